"""Which offset a worker commits: never past a record an agent has not finished (streams/commits.py).

Seen in the mid-backlog stop test: one report of 1,500, accepted with 202, never became a case. The worker had
stopped with the record at the head of its partition skipped by the stream (flow control off for the stop) and
acknowledged all the same, and the final commit went past it. faust's own consumer is driven here exactly as its
streams drive it: a record handed to an agent is tracked, then acknowledged when the agent finishes it; a record
skipped during a stop or a rebalance is acknowledged without ever being tracked."""

from __future__ import annotations

import faust
import pytest
from aiokafka.structs import ConsumerRecord
from faust.types import TP

from streams import commits

SOURCE = "reports.submitted.v1"
TP0 = TP(SOURCE, 0)


@pytest.fixture
async def consumer():
    """A faust app's consumer (not started: no broker needed for its bookkeeping), its partition read up to 34."""
    commits.install()
    app = faust.App("test-offset-commits", broker="kafka://127.0.0.1:9")
    app.topics.add(app.topic(SOURCE))
    await app.topics._update_indices()
    consumer = app.consumer
    assert app.topics.acks_enabled_for(SOURCE)
    consumer._committed_offset[TP0] = 34
    return consumer


def record(consumer, offset: int):
    message = consumer._to_message(TP0, ConsumerRecord(
        topic=SOURCE, partition=0, offset=offset, timestamp=0, timestamp_type=0, key=b"k", value=b"v",
        checksum=None, serialized_key_size=1, serialized_value_size=1, headers=[]))
    message.incref()  # delivered to one stream
    return message


def handed_to_agent(consumer, message) -> None:
    """What faust's stream does before yielding a record to an agent's body."""
    message.tracked = True
    consumer._unacked_messages.add(message)


def acknowledged(consumer, message) -> None:
    """What faust's stream does when an agent finishes a record, or when it skips one."""
    message.ack(consumer)


def commit(consumer) -> int:
    """The offset a commit now would write (and, as a commit does, the new committed offset)."""
    offset = consumer._new_offset(TP0)
    if offset is not None:
        consumer._committed_offset[TP0] = offset
    return consumer._committed_offset[TP0]


def test_a_record_skipped_while_the_worker_stops_is_read_again(consumer):
    head, skipped = record(consumer, 34), record(consumer, 35)
    handed_to_agent(consumer, head)
    acknowledged(consumer, head)
    consumer.app.flow_control.suspend()  # the worker stops
    acknowledged(consumer, skipped)  # flow control off: the stream skips it and acknowledges it
    # The commit stops before the skipped record: the next reader of the partition handles it.
    assert commit(consumer) == 35
    # And it does not count as waited for at shutdown either.
    assert skipped.acked and skipped not in consumer._unacked_messages


def test_a_record_skipped_at_the_head_holds_the_commit_back(consumer):
    skipped, later = record(consumer, 34), record(consumer, 35)
    consumer.app.flow_control.suspend()  # a rebalance
    acknowledged(consumer, skipped)
    consumer.app.flow_control.resume()
    handed_to_agent(consumer, later)
    acknowledged(consumer, later)
    assert commit(consumer) == 34
    # Read again (after the rebalance's seek, or by the next worker) and finished: the run is committed.
    again = record(consumer, 34)
    handed_to_agent(consumer, again)
    acknowledged(consumer, again)
    assert commit(consumer) == 36


def test_a_record_still_in_flight_is_not_committed_over(consumer):
    # The delivery lanes run four instances of an agent: later records finish while the head is still sending.
    slow, fast = record(consumer, 34), [record(consumer, offset) for offset in (35, 36, 37)]
    for message in (slow, *fast):
        handed_to_agent(consumer, message)
    for message in fast:
        acknowledged(consumer, message)
    assert commit(consumer) == 34
    # Once the slow one is done, the whole run is committed at once.
    acknowledged(consumer, slow)
    assert commit(consumer) == 38


def test_records_finished_in_order_are_committed(consumer):
    messages = [record(consumer, offset) for offset in range(34, 40)]
    for message in messages[:4]:
        handed_to_agent(consumer, message)
        acknowledged(consumer, message)
    handed_to_agent(consumer, messages[4])  # in flight
    assert commit(consumer) == 38
    acknowledged(consumer, messages[4])
    assert commit(consumer) == 39


def test_a_record_at_the_head_that_never_reached_an_agent_is_read_again(consumer, monkeypatch):
    # Seen after a restart: the record at the committed offset never reached the agent, the next ones did.
    rereads = []
    monkeypatch.setattr(commits, "REREAD_AFTER_SECONDS", 0.0)
    monkeypatch.setattr(commits, "reread", lambda c, tp, offset: rereads.append((tp.partition, offset)))
    later = [record(consumer, offset) for offset in (35, 36)]
    for message in later:
        handed_to_agent(consumer, message)
        acknowledged(consumer, message)
    assert commit(consumer) == 34  # faust alone: 37, and record 34 never read again
    assert commit(consumer) == 34
    assert rereads == [(0, 34)]  # the partition is read again from the record
    again = record(consumer, 34)
    handed_to_agent(consumer, again)
    acknowledged(consumer, again)
    assert commit(consumer) == 37


def test_an_offset_that_is_gone_holds_the_commit_only_for_a_few_rereads(consumer, monkeypatch):
    rereads = []
    monkeypatch.setattr(commits, "REREAD_AFTER_SECONDS", 0.0)
    monkeypatch.setattr(commits, "reread", lambda c, tp, offset: rereads.append(offset))
    later = record(consumer, 35)
    handed_to_agent(consumer, later)
    acknowledged(consumer, later)
    offsets = [commit(consumer) for _ in range(commits.REREAD_TRIES + 2)]
    assert rereads == [34] * (commits.REREAD_TRIES - 1)
    assert offsets[-1] == 36  # faust's own rule (a one-offset gap is stepped over) once the tries are spent


def test_a_commit_still_in_flight_is_not_taken_for_a_missing_record(consumer, monkeypatch):
    # faust moves its committed offset only once the broker answers; a commit computed meanwhile goes on from it.
    rereads = []
    monkeypatch.setattr(commits, "reread", lambda c, tp, offset: rereads.append(offset))
    first, second = record(consumer, 34), record(consumer, 35)
    handed_to_agent(consumer, first)
    acknowledged(consumer, first)
    assert consumer._new_offset(TP0) == 35  # being committed; consumer._committed_offset still 34
    handed_to_agent(consumer, second)
    acknowledged(consumer, second)
    assert consumer._new_offset(TP0) == 36
    assert rereads == []


def test_a_record_faust_could_not_decode_is_done(consumer):
    # faust acknowledges an undecodable record without handing it to an agent, while the flow is on.
    consumer.app.flow_control.resume()
    bad, good = record(consumer, 34), record(consumer, 35)
    acknowledged(consumer, bad)
    handed_to_agent(consumer, good)
    acknowledged(consumer, good)
    assert commit(consumer) == 36
