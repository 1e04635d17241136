"""Attack: a leaked reporter token floods intake, and a script guesses secretariat tokens at the login page.

A real worker with the default burst (10) and a small steady rate, so the bound below is tight; every
refusal is a 429 with a Retry-After, and nothing refused reaches the intake (or dead-letter) topic.
"""

from __future__ import annotations

import json

import re
import time

import httpx
import pytest

from streams import topics
from testing.samples import named, unique_name
from testing.stack import Stack
from tests.integration.test_ui_security import csrf_of, report_form

pytestmark = pytest.mark.kafka

BURST, PER_MINUTE, LOGINS = 10, 6, 5
FLOOD = 60


@pytest.fixture(scope="module")
def flood_stack(kafka, tmp_path_factory):
    """A worker with real (small) flood limits instead of the harness's generous ones."""
    s = Stack(tmp_path_factory.mktemp("flood"), extra_env={
        "SOLIDARITY_LIMITS__REPORT_BURST": str(BURST), "SOLIDARITY_LIMITS__REPORTS_PER_MINUTE": str(PER_MINUTE),
        "SOLIDARITY_LIMITS__LOGIN_ATTEMPTS": str(LOGINS), "SOLIDARITY_LIMITS__LOGIN_WINDOW_MINUTES": "15",
    }).start()
    yield s
    s.stop()


@pytest.fixture
def client(flood_stack):
    with httpx.Client(base_url=flood_stack.http.base_url, follow_redirects=False, timeout=30) as c:
        yield c


def assert_throttled_api(response: httpx.Response) -> None:
    """A 429 in the API's error format naming `token`, with a whole-seconds Retry-After of at least 1."""
    assert response.status_code == 429, response.text
    assert int(response.headers["Retry-After"]) >= 1
    [problem] = response.json()["errors"]
    assert problem["field"] == "token" and problem["message"]


def intake_records(stack: Stack, marker: str) -> int:
    """How many records on the intake and report dead-letter topics carry `marker` (opened: it is a locality)."""
    from schemas.deadletters import DeadLetter
    from schemas.reports import ReportSubmitted

    sealer = stack.sealer()
    opened = [json.dumps(sealer.open(model, json.loads(value)), ensure_ascii=False)
              for spec, model in ((topics.REPORTS_SUBMITTED, ReportSubmitted), (topics.REPORTS_DLQ, DeadLetter))
              for _, value in stack.read_topic(spec)]
    return sum(marker in text for text in opened)


def test_a_flood_from_one_token_is_cut_to_the_burst_plus_the_rate(flood_stack, client):
    started = time.monotonic()  # the flooding token's bucket is created (full) after this
    flooder = flood_stack.token("reporter", "leaked")
    bystander = flood_stack.token("reporter", "other-team")
    marker = f"flood-{unique_name('x').split()[-1]}"

    responses = [client.post("/api/v1/reports", json=named(unique_name(), locality=f"{marker}-{i}"),
                             headers={"Authorization": f"Bearer {flooder}"}) for i in range(FLOOD)]
    elapsed = time.monotonic() - started

    accepted = [r for r in responses if r.status_code == 202]
    refused = [r for r in responses if r.status_code != 202]
    # The token probe in Stack.token spent one; the bucket refills PER_MINUTE a minute from its creation.
    assert BURST - 1 <= len(accepted) <= BURST + int(elapsed * PER_MINUTE / 60) + 1
    assert responses[0].status_code == 202
    assert len(refused) >= FLOOD - BURST - int(elapsed * PER_MINUTE / 60) - 1
    for response in refused:
        assert_throttled_api(response)
    assert flooder not in "".join(r.text for r in responses)

    # Another token is not slowed down by the flood.
    other = client.post("/api/v1/reports", json=named(unique_name(), locality=f"{marker}-other"),
                        headers={"Authorization": f"Bearer {bystander}"})
    assert other.status_code == 202, other.text

    # A refused report is neither published nor dead-lettered.
    assert intake_records(flood_stack, marker) == len(accepted) + 1

    # The same token is just as limited through the reporter form.
    form_page = client.get("/report")
    throttled_api = client.post("/api/v1/reports", json=named(unique_name()),
                                headers={"Authorization": f"Bearer {flooder}"})
    assert_throttled_api(throttled_api)  # still empty: the form post below comes right after
    response = client.post("/report", data=report_form(flooder, csrf_of(form_page.text), locality=f"{marker}-form"))
    assert response.status_code == 429, response.text[:500]
    assert int(response.headers["Retry-After"]) >= 1
    message = re.search(r'id="err-token"[^>]*>([^<]+)<', response.text)
    assert message and f"in {response.headers['Retry-After']} seconds" in message.group(1), message
    assert flooder not in response.text
    assert intake_records(flood_stack, f"{marker}-form") == 0


def test_login_guessing_from_one_address_is_refused_after_the_limit(flood_stack, client):
    secretariat = flood_stack.token("secretariat", "desk")
    csrf = csrf_of(client.get("/dashboard/login").text)
    guesses = [client.post("/dashboard/login", data={"csrf": csrf, "token": f"sol_sec_guess{i}"})
               for i in range(LOGINS + 5)]
    assert [r.status_code for r in guesses[:LOGINS]] == [401] * LOGINS
    for response in guesses[LOGINS:]:
        assert response.status_code == 429
        assert int(response.headers["Retry-After"]) >= 1
        assert "Too many login attempts" in response.text
    # Past the limit even the right token is not tried: a guesser cannot tell a hit from a miss.
    right = client.post("/dashboard/login", data={"csrf": csrf, "token": secretariat})
    assert right.status_code == 429
    assert "sol_session" not in right.headers.get("set-cookie", "")
