"""The member pages' forms: what a self-service post changes, and what a report-back form refuses."""

from __future__ import annotations

import pytest
from multidict import MultiDict

from schemas.members import Member
from streams.web.ui.member_links import manage_patch, report_errors

MEMBER = Member(member_id="m1", organization="Ligue", contact_name="Joana", phone="+33612340004",
                email="j@ligue.example.org", language="es", country="FR", working_groups=["legal"],
                channels=["sms", "email"], opted_out=["email"])


def form(**fields) -> MultiDict:
    out = MultiDict()
    for key, value in fields.items():
        for v in value if isinstance(value, list) else [value]:
            out.add(key, v)
    return out


def test_only_what_changed_is_patched():
    assert manage_patch(MEMBER, form(contact_name="Joana", language="es", channels="sms", working_groups="legal")) == {
        "channels": ["sms"]}
    assert manage_patch(MEMBER, form(contact_name="Joana Silva", language="fr", channels=["sms", "email"],
                                     working_groups="legal, asylum")) == {
        "contact_name": "Joana Silva", "language": "fr", "opted_out": [], "working_groups": ["legal", "asylum"]}


def test_ticking_a_channel_again_opts_back_in_and_opting_out_stops_every_channel():
    assert manage_patch(MEMBER, form(channels=["sms", "email"]))["opted_out"] == []
    assert manage_patch(MEMBER, form(opt_out_all="1")) == {"opted_out": ["sms", "email"]}


@pytest.mark.parametrize("values, errors", [
    ({"what": "", "where": "", "link": ""}, {"what": "ml.report.what_needed"}),
    ({"what": "x" * 501, "where": "", "link": ""}, {"what": "ml.too_long"}),
    ({"what": "wrote", "where": "", "link": "javascript:alert(1)"}, {"link": "ml.report.bad_link"}),
    ({"what": "wrote", "where": "", "link": "https://a.example/ b"}, {"link": "ml.report.bad_link"}),
    ({"what": "wrote", "where": "Lyon", "link": "https://ligue.example.org/a"}, {}),
])
def test_the_report_form_refuses_what_it_cannot_keep(values, errors):
    assert report_errors(values) == errors
