"""`solidarity keys rotate`: a new KEK wraps every data key, the old one is retired, and nothing sealed is lost."""

from __future__ import annotations

import json

import pytest

from streams import topics
from testing.samples import named, unique_name
from testing.stack import Stack, wait_for


@pytest.fixture(scope="module")
def rotating(kafka, tmp_path_factory):
    """A worker with a key file of its own (rotating it must not touch the one every other test uses)."""
    tmp = tmp_path_factory.mktemp("rotate")
    key_file = tmp / "keys.json"
    stack = Stack(tmp, extra_env={"SOLIDARITY_CRYPTO__KEY_FILE": str(key_file)})
    stack.cli("keys", "init", "--file", str(key_file))
    stack.start()
    yield stack, key_file
    stack.stop()


def kek_ids(key_file) -> tuple[str, list[str]]:
    content = json.loads(key_file.read_text())
    return content["primary"], [k["id"] for k in content["keks"]]


def latest_wraps(stack) -> dict[str, str]:
    """Each live data key's KEK id, as keys.data.v1 holds it now (the latest record per key)."""
    latest: dict[str, str | None] = {}
    for key, value in stack.read_topic(topics.DATA_KEYS):
        if key is None or key.endswith(b"|shredded"):
            continue
        latest[key.decode()] = json.loads(value)["kek_id"] if value else None
    return {k: v for k, v in latest.items() if v is not None}


def submit(stack, rep, sec, name):
    status, receipt = stack.http.request("POST", "/api/v1/reports", named(name), token=rep)
    assert status == 202, receipt
    return wait_for(lambda: (r := stack.http.request("GET", f"/api/v1/cases/{receipt['case_id']}", token=sec))[0]
                    == 200 and r[1], 30, 0.1, "the case")


def test_rotation_in_three_steps_rewraps_every_data_key_retires_the_old_kek_and_loses_nothing(rotating):
    stack, key_file = rotating
    rep, sec = stack.token("reporter"), stack.token("secretariat")
    before_name = unique_name()
    before = submit(stack, rep, sec, before_name)
    old_primary, _ = kek_ids(key_file)
    assert set(latest_wraps(stack).values()) == {old_primary}

    # Step one (for workers on several hosts): the next KEK is added, not used yet.
    stack.cli("keys", "rotate", "--add-only")
    primary, known = kek_ids(key_file)
    assert primary == old_primary and len(known) == 2
    upcoming = next(k for k in known if k != old_primary)
    assert set(latest_wraps(stack).values()) == {old_primary}, "nothing is wrapped by a KEK not yet everywhere"

    # Step two: it becomes primary and every data key is re-wrapped; the old KEK stays while copies are updated.
    done = stack.cli("keys", "rotate", "--keep-old", "--grace", "1")
    assert "re-wrapped" in done.stdout and "old KEKs kept" in done.stdout, done.stdout
    new_primary, known = kek_ids(key_file)
    assert new_primary == upcoming and sorted(known) == sorted([old_primary, upcoming])
    assert set(latest_wraps(stack).values()) == {new_primary}
    # Step three: the old KEK is retired.
    done = stack.cli("keys", "rotate", "--finish", "--grace", "0")
    assert f"retired {old_primary}" in done.stdout, done.stdout
    new_primary, known = kek_ids(key_file)
    assert new_primary == upcoming and known == [new_primary], "only the new KEK is left in the key file"
    wraps = latest_wraps(stack)
    assert wraps and set(wraps.values()) == {new_primary}, "every data key is now wrapped by the new KEK"

    # A report after the rotation: the running worker wraps its new case key with the new KEK.
    after_name = unique_name()
    after = submit(stack, rep, sec, after_name)
    assert set(latest_wraps(stack).values()) == {new_primary}

    # A worker started afresh (its state store wiped) opens everything with the new KEK alone.
    stack.restart(wipe_data=True)
    for case, name in ((before, before_name), (after, after_name)):
        again = wait_for(lambda: (r := stack.http.request("GET", f"/api/v1/cases/{case['case_id']}", token=sec))[0]
                         == 200 and r[1], 60, 0.2, "the case after the restart")
        assert again["reports"][0]["report"]["defenders"][0]["name"] == name
        assert again["reports"][0]["report"]["description"] == case["reports"][0]["report"]["description"]
    status = stack.cli("keys", "status").stdout
    assert f"KEK {new_primary} (primary)" in status and old_primary not in status
