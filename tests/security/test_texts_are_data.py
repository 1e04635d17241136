"""Attack: a secretariat text written as a template (`{{ cycler.__init__.__globals__.os.getpid() }}`) must be refused
at approval and, whatever reaches the fan-out, must never be evaluated."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from types import SimpleNamespace

import pytest

from agents.fanout import fan_out_action
from agents.texts import fill, render_text
from schemas.actions import Audience, CallToAction
from schemas.vocab import CaseStatus
from schemas.cases import CaseSnapshot
from streams.replicas import Views
from streams.services.actions import approve_action
from streams.services.errors import ServiceError
from testing.samples import report
from testing.stack import ROOT, wait_for
from tests.stubs import put
from tests.unit.test_fanout import make_case, member

RCE = "pid {{ cycler.__init__.__globals__.os.getpid() }}"
PAYLOADS = [RCE, "{{ 7*7 }}", "{% for x in [1, 2] %}{{ x }}{% endfor %}", "{{ config.items() }}",
            "{{ ''.__class__.__mro__[1].__subclasses__() }}", "{reference.__class__.__init__.__globals__}"]
EVALUATED = ("49", "<class", str(os.getpid()), "12")
DESK = "tok_0192f3a4b5c6d7e8f9a0b1c2"


class Published:
    """actions.approved.v1 as a list: send() returns an awaitable like faust's future."""

    def __init__(self) -> None:
        self.items: list = []

    async def send(self, key=None, value=None):
        self.items.append(value)
        done = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


def runtime() -> SimpleNamespace:
    """What approve_action reads: one verified case, one member, and the approvals topic."""
    case = make_case().model_copy(update={"status": CaseStatus.verified})
    views = Views()
    put(views.cases, case.case_id, CaseSnapshot(case=case))
    put(views.members, "a", member("a", "en"))
    return SimpleNamespace(views=views, topics=SimpleNamespace(actions_approved=Published(), audit_submitted=Published()))


@pytest.mark.parametrize("payload", PAYLOADS)
def test_approval_refuses_a_template_payload_naming_the_field(payload):
    rt = runtime()
    with pytest.raises(ServiceError) as refused:
        asyncio.run(approve_action(rt, "case_1", {"kind": "petition", "messages": {"en": payload}}, "desk",
                                  token_id=DESK))
    assert refused.value.status == 422
    [problem] = refused.value.problems
    assert problem.field == "messages.en"
    assert "{reference}" in problem.message and "{sign_word}" in problem.message  # says what is allowed
    assert rt.topics.actions_approved.items == []  # nothing reaches the fan-out


def test_approval_accepts_placeholders_and_the_member_gets_plain_text():
    rt = runtime()
    body = {"kind": "petition", "messages": {"en": "Case {reference}: reply {sign_word}. It's urgent."}}
    asyncio.run(approve_action(rt, "case_1", body, "desk", token_id=DESK))
    [action] = rt.topics.actions_approved.items
    [sms, _] = fan_out_action(action, make_case(), [member("a", "en")]).notifications
    assert sms.body == "Case SOL-ABC123: reply SIGN. It's urgent."


@pytest.mark.parametrize("payload", PAYLOADS)
def test_render_never_evaluates_even_a_text_that_skipped_validation(payload):
    # An action approved before texts were data may still sit on the topic: it is sent literally, not run.
    case = make_case()
    action = CallToAction(action_id="act_old", case_id="case_1", reference=case.reference, kind="petition",
                          audience=Audience(), messages={"en": payload}, channels=["sms"], approved_by="desk")
    bodies = [n.body for n in fan_out_action(action, case, [member("a", "en")]).notifications]
    assert bodies == [payload] and fill(payload, {"reference": "R"}) == render_text(payload) == payload
    assert not any(mark in body for body in bodies for mark in EVALUATED if mark not in payload)


def test_no_template_engine_is_loaded_by_the_text_rules():
    code = "import sys, agents.fanout, agents.texts; print('jinja2' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=str(ROOT), capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_real_route_answers_422_naming_messages_en(stack, reporter_token, secretariat_token):
    status, receipt = stack.http.request("POST", "/api/v1/reports", report(incident_type="surveillance"),
                                         token=reporter_token)
    assert status == 202, receipt
    case_path = f"/api/v1/cases/{receipt['case_id']}"
    wait_for(lambda: stack.http.request("GET", case_path, token=secretariat_token)[0] == 200, 30, 0.1, "the case")
    status, body = stack.http.request("POST", f"{case_path}/verify", {"note": "confirmed by phone"},
                                      token=secretariat_token)
    assert status == 202, body
    wait_for(lambda: stack.http.request("GET", case_path, token=secretariat_token)[1]["status"] == "verified", 30,
             0.1, "verification")
    for payload in (RCE, "{{ 7*7 }}"):
        status, body = stack.http.request("POST", f"{case_path}/actions",
                                          {"kind": "petition", "messages": {"en": payload}}, token=secretariat_token)
        assert status == 422, body
        assert [e["field"] for e in body["errors"]] == ["messages.en"]
        assert "{reference}" in body["errors"][0]["message"] and "49" not in body["errors"][0]["message"]
