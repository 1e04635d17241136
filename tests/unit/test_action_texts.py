"""Call-to-action texts: checked at approval with the values the fan-out uses, rendered once per language."""

from datetime import datetime, timezone

import pytest

from agents.fanout import action_texts, check_texts, fan_out_action, prefill, template_values
from schemas.actions import Audience, CallToAction
from tests.unit.test_fanout import make_case, member

ALLOWED = "{country}, {deadline}, {done_word}, {incident}, {reference}, {sign_word}, {urgency}"


@pytest.mark.parametrize("messages,deadline,fields", [
    ({"en": "Reply {sign_word} for {reference} in {country} by {deadline}."}, "2030-01-31", []),
    ({"en": "Reply SIGN.", "fr": "Répondez {sign_word} : l'appel {reference}."}, None, []),
    ({"en": "Reply by {deadline}."}, None, ["messages.en"]),
    ({"en": "ok", "es": "Firma {nombre}"}, None, ["messages.es"]),
    ({"en": "pid {{ cycler.__init__.__globals__.os.getpid() }}", "pt": "{% if x %}y{% endif %}"}, None,
     ["messages.en", "messages.pt"]),
])
def test_check_texts_names_each_bad_language(messages, deadline, fields):
    problems = check_texts(make_case(), messages, deadline)
    assert [p.field for p in problems] == fields
    assert all(ALLOWED in p.message for p in problems)


def test_prefilled_texts_always_pass_and_name_the_deadline_only_when_there_is_one():
    case = make_case()
    for deadline in (None, "2030-01-31"):
        texts = prefill(case, "sign_on_letter", ["en", "es", "fr", "ar", "pt"], deadline)
        assert check_texts(case, texts, deadline) == []
        assert all(("2030-01-31" in t) is bool(deadline) for t in texts.values())
    assert "Responde FIRMO" in prefill(case, "petition", ["es"])["es"]


def test_fan_out_fills_secretariat_placeholders_in_each_language():
    case = make_case()
    action = CallToAction(action_id="act_t", case_id="case_1", reference=case.reference, kind="petition",
                          audience=Audience(), approved_by="desk", channels=["sms", "email"],
                          deadline=datetime(2030, 1, 31, tzinfo=timezone.utc),
                          messages={"en": "{reference}: reply {sign_word} by {deadline}.",
                                    "es": "{reference}: responde {sign_word} antes del {deadline}."})
    plan = fan_out_action(action, case, [member("a", "es"), member("b", "fr", channels=["sms"])])
    bodies = {(n.member_id, n.channel.value): n.body for n in plan.notifications}
    assert bodies[("a", "sms")] == bodies[("a", "email")] == "SOL-ABC123: responde FIRMO antes del 2030-01-31."
    assert bodies[("b", "sms")] == "SOL-ABC123: reply SIGN by 2030-01-31."  # no French text: English fallback
    assert next(n.subject for n in plan.notifications if n.channel.value == "email") == (
        "Llamado a la acción de solidaridad SOL-ABC123")


def test_urgency_placeholder_is_upper_case_as_alerts_show_it():
    assert template_values(make_case(urgency="critical"), "en")["urgency"] == "CRITICAL"
    assert action_texts(make_case(), {"en": "{urgency}"}, "en", None)[0] == "HIGH"
