"""Property test of POST /api/v1/reports: a thousand arbitrary and mutated bodies, never a 500
(SOLIDARITY_FUZZ_EXAMPLES=10000 for a longer run; the examples are derandomized, so a run repeats).

Every answer is 202, 413 or 422; every 422 names fields that exist in the request (or that the schema
requires and the request lacks), or 'body'. One keep-alive connection is used throughout, so a worker that
dropped a connection would show up as a client error.
"""

from __future__ import annotations

import json
import os

import httpx
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from schemas.reports import Defender, ReporterContact, ReportIn
from testing.samples import report

KNOWN_FIELDS = set(ReportIn.model_fields) | set(Defender.model_fields) | set(ReporterContact.model_fields)
FIELDS = sorted(report())

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=10**30, max_value=10**60),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=30),
    st.sampled_from(["", " ", "mx", "MX", "zz", "es", "xx", "public", "private", "killing", "woman",
                     "2026-01-01T00:00:00", "2026-01-01T00:00:00+00:00", "2999-01-01T00:00:00Z", "+525512345678",
                     "a@b", "عربي", "Ñandú ñ", "\u202e", "\x00", "\ud800"]),
)
junk = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                     st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                    max_leaves=12)


@st.composite
def mutated_reports(draw) -> object:
    """A valid sample report with fields dropped, retyped, replaced or added."""
    body = report()
    for name in draw(st.lists(st.sampled_from(FIELDS), max_size=4, unique=True)):
        del body[name]
    for name in draw(st.lists(st.sampled_from(FIELDS), max_size=3, unique=True)):
        body[name] = draw(junk)
    for key in draw(st.lists(st.text(max_size=10), max_size=2)):
        body[key] = draw(junk)
    if "defenders" in body and draw(st.booleans()):
        defender = dict(report()["defenders"][0])
        for name in draw(st.lists(st.sampled_from(sorted(defender)), max_size=3, unique=True)):
            defender[name] = draw(junk)
        if draw(st.booleans()):
            defender[draw(st.text(max_size=6))] = draw(junk)
        body["defenders"] = draw(st.sampled_from([[defender], [defender, defender], [defender, 7], defender]))
    if draw(st.integers(0, 9)) == 0:
        body["reporter_contact"] = draw(st.one_of(junk, st.fixed_dictionaries(
            {}, optional={"phone": scalars, "email": scalars, "fax": scalars})))
    return body


def encode(value: object, ascii_only: bool) -> bytes:
    return json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


@st.composite
def bodies(draw) -> bytes:
    """Raw request bodies: mutated reports, arbitrary JSON, damaged JSON, raw bytes, huge or deep bodies."""
    kind = draw(st.integers(0, 19))
    if kind <= 10:
        return encode(draw(mutated_reports()), draw(st.booleans()))
    if kind <= 13:
        return encode(draw(junk), draw(st.booleans()))
    if kind == 14:
        return draw(st.binary(max_size=120))
    if kind == 15:
        text = encode(draw(mutated_reports()), False)
        cut = draw(st.integers(0, len(text)))
        return text[:cut] + draw(st.binary(max_size=8)) + text[cut:]
    if kind == 16:
        depth = draw(st.integers(1, 30_000))
        return b'{"defenders": ' + b"[" * depth + b"]" * depth + b"}"
    if kind == 17:
        return b'{"people_affected": ' + draw(st.sampled_from([b"1" * 5000, b"1e999", b"NaN", b"-Infinity", b"1.5"])) + b"}"
    if kind == 18:
        size = draw(st.sampled_from([64 * 1024 - 20, 64 * 1024 + 1, 200_000]))
        return encode(report(description="x" * size), True)
    return encode(report(description=draw(st.text(min_size=10, max_size=200)), language="ar"), False)


def resolves(node: object, parts: list[str]) -> bool:
    """Whether a dotted path names something in the request, or a schema field missing from a present object."""
    if not parts:
        return True
    for cut in range(1, len(parts) + 1):
        # Keys may contain dots themselves: try every split.
        key = ".".join(parts[:cut])
        if isinstance(node, dict) and key in node and resolves(node[key], parts[cut:]):
            return True
        if isinstance(node, list) and key.isdigit() and int(key) < len(node) and resolves(node[int(key)], parts[cut:]):
            return True
    return len(parts) == 1 and isinstance(node, dict) and parts[0] in KNOWN_FIELDS


@pytest.fixture(scope="module")
def client(stack, reporter_token):
    with httpx.Client(base_url=stack.http.base_url, timeout=30,
                      headers={"Authorization": f"Bearer {reporter_token}"}) as c:
        yield c


@settings(max_examples=int(os.environ.get("SOLIDARITY_FUZZ_EXAMPLES", "1000")), deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much,
                                 HealthCheck.large_base_example])
@given(raw=bodies(), content_type=st.sampled_from(["application/json", "text/plain", "application/octet-stream"]))
def test_any_body_gets_a_clear_answer_never_a_500(client, raw, content_type):
    response = client.post("/api/v1/reports", content=raw, headers={"Content-Type": content_type})
    event(f"status {response.status_code}")
    assert response.status_code in (202, 413, 422), (response.status_code, response.text[:300], raw[:200])
    answer = response.json()
    if response.status_code == 202:
        assert set(answer) == {"report_id", "case_id", "reference"}
        return
    assert answer["errors"], answer
    if response.status_code == 413:
        assert len(raw) > 64 * 1024
        return
    try:
        sent = json.loads(raw)
    except (ValueError, RecursionError):
        sent = None
    for error in answer["errors"]:
        assert set(error) == {"field", "message"} and error["message"]
        assert error["field"] == "body" or resolves(sent, error["field"].split(".")), (error, raw[:300])


def test_the_worker_still_serves_after_the_fuzzing(client, stack):
    assert client.post("/api/v1/reports", json=report(country="zz")).status_code == 422
    assert stack.http.request("GET", "/healthz")[0] == 200
