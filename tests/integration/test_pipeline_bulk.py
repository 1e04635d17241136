"""500 reports through the real broker: each ends as a case, a merge into a case, or a dead letter with reasons."""

from __future__ import annotations

import json

import httpx

from schemas.deadletters import DeadLetter
from streams import topics
from streams.admin import producer
from testing.samples import envelope, named, report, unique_name
from testing.stack import wait_case, wait_for

UNIQUE, DUPLICATES, API_INVALID, KAFKA_INVALID = 300, 50, 75, 75


def api_invalid(i: int) -> dict:
    """A report the API refuses; its locality carries a marker so its dead letter can be found."""
    marker = {"locality": f"bulk-api-{i}"}
    variants = [
        report(country="ZZ", **marker),
        report(defenders=[], **marker),
        report(occurred_at="yesterday", **marker),
        {k: v for k, v in report(**marker).items() if k != "consent"},
        report(people_affected=-3, favourite_colour="red", **marker),
    ]
    return variants[i % len(variants)]


def kafka_invalid(i: int) -> bytes:
    """A message put straight on the intake topic that the validating agent must dead-letter."""
    variants = [
        b"\xff\xfe not json at all",
        json.dumps(envelope(report(country="ZZ"))).encode(),
        json.dumps({"report": report()}).encode(),
        json.dumps(envelope(report(defenders=[{"gender": "robot"}]))).encode(),
        json.dumps([1, 2, 3]).encode(),
    ]
    return variants[i % len(variants)]


def test_five_hundred_reports_none_lost(stack, reporter_token, secretariat_token):
    receipts: dict[str, dict] = {}
    seeds: list[str] = []
    with httpx.Client(base_url=stack.http.base_url, timeout=30,
                      headers={"Authorization": f"Bearer {reporter_token}"}) as client:
        for i in range(UNIQUE):
            name = unique_name(f"Bulk{i}")
            seeds.append(name)
            response = client.post("/api/v1/reports", json=named(name, country=["mx", "co", "ke", "ph"][i % 4]))
            assert response.status_code == 202, response.text
            receipts[name] = response.json()
        duplicates = []
        for i in range(DUPLICATES):
            name = seeds[i]
            response = client.post("/api/v1/reports", json=named(name.upper(), country=["mx", "co", "ke", "ph"][i % 4]))
            assert response.status_code == 202, response.text
            duplicates.append((name, response.json()))
        for i in range(API_INVALID):
            response = client.post("/api/v1/reports", json=api_invalid(i))
            assert response.status_code == 422, response.text

    prod = producer(stack.settings())
    intake = topics.full_name(topics.REPORTS_SUBMITTED, stack.settings().topic_prefix)
    for i in range(KAFKA_INVALID):
        prod.send(intake, key=f"bulk-kafka-{i}".encode(), value=kafka_invalid(i))
    prod.flush(timeout=30)
    prod.close()

    # Every unique report is its own case, under the id its receipt gave.
    for name, receipt in receipts.items():
        case = wait_case(stack, secretariat_token, receipt["case_id"], timeout=60)
        assert case["case_id"] == receipt["case_id"]
        assert case["reports"][0]["reference"] == receipt["reference"]
    # Every duplicate is in its seed's case, found through its own receipt's case id.
    for name, receipt in duplicates:
        case = wait_case(stack, secretariat_token, receipt["case_id"],
                         lambda c, ref=receipt["reference"]: ref in [r["reference"] for r in c["reports"]], timeout=60)
        assert case["case_id"] == receipts[name]["case_id"]
        assert len(case["reports"]) == 2

    # Every refused report is a dead letter with its reasons.
    sealer = stack.sealer()

    def dead_letters():
        found = {}
        for key, value in stack.read_topic(topics.REPORTS_DLQ):
            letter = sealer.loads(DeadLetter, value)
            if letter.stage == "api":
                try:
                    locality = json.loads(letter.payload).get("locality", "")
                except (ValueError, AttributeError):
                    continue
                if isinstance(locality, str) and locality.startswith("bulk-api-"):
                    found[locality] = letter
            elif key and key.startswith(b"bulk-kafka-"):
                found[key.decode()] = letter
        return found if len(found) >= API_INVALID + KAFKA_INVALID else None

    letters = wait_for(dead_letters, 60, 0.5, "every refused report on the dead-letter topic")
    assert set(letters) == {f"bulk-api-{i}" for i in range(API_INVALID)} | {f"bulk-kafka-{i}" for i in range(KAFKA_INVALID)}
    for marker, letter in letters.items():
        assert letter.reasons and all(p.field and p.message for p in letter.reasons), marker
    assert {p.field for p in letters["bulk-api-0"].reasons} == {"country"}
    assert {p.field for p in letters["bulk-kafka-1"].reasons} == {"report.country"}
    assert {p.field for p in letters["bulk-kafka-3"].reasons} == {"report.defenders.0.gender"}
    assert {"report_id", "case_id", "reference"} <= {p.field for p in letters["bulk-kafka-2"].reasons}
    assert all(letters[f"bulk-kafka-{i}"].stage == "validate" for i in range(KAFKA_INVALID))

    # The queue shows exactly the cases, with every report accounted for.
    status, queue = stack.http.request("GET", "/api/v1/cases", token=secretariat_token)
    assert status == 200
    ours = {r["case_id"] for r in receipts.values()}
    rows = [c for c in queue["cases"] if c["case_id"] in ours]
    assert len(rows) == UNIQUE
    assert sum(c["reports"] for c in rows) == UNIQUE + DUPLICATES
