"""ModelTable: pydantic models over a faust table; the parsed-model cache never serves a stale member."""

from __future__ import annotations

from schemas.members import Member
from streams.tables import ModelTable


def _member(**kw) -> Member:
    data = {"member_id": "m1", "organization": "Red de Defensoras", "contact_name": "Ana", "phone": "+447400123456",
            "country": "MX", "language": "es"}
    return Member(**{**data, **kw})


def test_cached_table_reads_what_was_written():
    store: dict = {}
    members = ModelTable(store, Member, cache=True)
    members["m1"] = _member()
    assert members.get("m1") == _member().model_copy(update={"updated_at": members.get("m1").updated_at})
    assert [m.member_id for m in members.values()] == ["m1"]
    assert members.get("nobody") is None


def test_a_change_that_bypasses_the_wrapper_is_seen_at_once():
    # Changelog recovery and other writers change the store directly: the cache must notice.
    store: dict = {}
    members = ModelTable(store, Member, cache=True)
    members["m1"] = _member()
    assert members.get("m1").language == "es"
    store["m1"] = {**store["m1"], "language": "pt", "opted_out": ["sms"]}
    assert (members.get("m1").language, members.get("m1").opted_out) == ("pt", ["sms"])
    assert [m.language for m in members.values()] == ["pt"]
    del store["m1"]
    assert members.get("m1") is None and list(members.values()) == []


def test_uncached_and_cached_tables_agree():
    store: dict = {}
    ModelTable(store, Member)["m1"] = _member(working_groups=["mujeres"])
    assert ModelTable(store, Member).get("m1") == ModelTable(store, Member, cache=True).get("m1")
