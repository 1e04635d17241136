"""The interface's gettext catalogues: five languages with the same keys and placeholders, every key a template or
a view uses present, every vocabulary value the dashboard shows translated; dates in the reader's language (in
UTC, saying so); and the case page's buttons the ones the case's state allows."""

from __future__ import annotations

import re
import string
from datetime import datetime, timezone
from enum import StrEnum
from pathlib import Path

import pytest
from babel import Locale
from babel.messages.pofile import read_po

from agents import paging
from agents.casefile import apply_event
from agents.routing import load_catalogue
from schemas.cases import CaseEvent, CaseEventKind
from schemas.vocab import ActionKind, CaseStatus, Channel, Consent, IncidentType, Region, Urgency
from streams.audit.chain import Kind as ChainKind
from streams.web.ui import i18n
from streams.web.ui.ctas import BARS
from streams.web.ui.dashboard import allowed_verbs, higher_urgencies, mechanism_names
from streams.web.ui.render import env, format_when
from streams.web.ui.system import chart_in
from testing.samples import named, stored

UI = Path(i18n.__file__).parent
TEMPLATES = UI / "templates"
# A call in a template: t("key"), tm('key', ...), pf("key"); a key followed by `~` is the prefix of a built key.
TEMPLATE_CALL = re.compile(r"""\b(?:t|tm|pf)\(\s*(["'])([^"']+)\1\s*(~)?""")
# In Python: translate(lang, "key"), Refused(404, "key"), error_page(503, "key"), message(lang, "key").
PYTHON_CALL = re.compile(r"""\b(?:translate|message|plural_forms|Refused|error_page)\(\s*(?:[^,()]|\([^()]*\))+,\s*"""
                         r"""(["'])([^"']+)\1""")
KEY = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$")

# Every value the dashboard shows, by vocabulary: what `vt(vocabulary, value)` looks up as v.<vocabulary>.<value>.
SHOWN = {
    "urgency": [u.value for u in Urgency],
    "status": [s.value for s in CaseStatus],
    "consent": [c.value for c in Consent],
    "incident": [i.value for i in IncidentType],
    "region": [r.value for r in Region],
    "event": [k.value for k in CaseEventKind],
    "kind": [k.value for k in ActionKind],
    "channel": [c.value for c in Channel],
    "paging": [p.value for p in paging.Paging],
    "chain": [k.value for k in ChainKind],
    "delivery": [*BARS, "targeted", "opted_out", "cancelled"],
    "via": ["dashboard", "api", "sms", "cli"],
    "source": ["api", "form", "sms", "replay"],
}


def fields(text: str) -> set[str]:
    """The {placeholders} of a text (str.format syntax)."""
    return {name.split(".")[0].split("[")[0] for _, name, _, _ in string.Formatter().parse(text) if name}


def forms(entry) -> tuple[str, ...]:
    return entry if isinstance(entry, tuple) else (entry,)


@pytest.fixture(scope="module")
def catalogues() -> dict[str, dict]:
    return {lang: i18n.catalogue(lang) for lang in i18n.LANGUAGES}


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
def test_each_po_file_parses_with_babel_with_its_plural_rule_and_no_duplicate(lang):
    path = i18n.po_path(lang)
    with path.open("rb") as fh:
        catalog = read_po(fh, locale=lang, abort_invalid=True)
    assert str(catalog.locale) == lang
    assert catalog.num_plurals == len({Locale.parse(lang).plural_form(n) for n in (*range(200), 1_000_000)})
    messages = [m for m in catalog if m.id]
    assert messages and not any(m.fuzzy for m in messages)
    ids = re.findall(r'^msgid "(.+)"$', path.read_text(encoding="utf-8"), re.M)
    assert len(ids) == len(set(ids)) == len(messages), "a msgid appears twice"
    for m in messages:
        key = m.id[0] if isinstance(m.id, tuple) else m.id
        assert KEY.match(key), f"{lang}: {key!r} is not a dotted key"
        if isinstance(m.id, tuple):
            assert len(m.string) == catalog.num_plurals, f"{lang}: {key} needs {catalog.num_plurals} forms"


def test_every_language_has_the_same_keys(catalogues):
    english = set(catalogues["en"])
    assert len(english) > 300
    for lang, cat in catalogues.items():
        assert set(cat) == english, (lang, sorted(set(cat) ^ english)[:20])


def test_no_text_is_empty_and_plural_entries_are_plural_everywhere(catalogues):
    for lang in i18n.LANGUAGES:
        with i18n.po_path(lang).open("rb") as fh:
            catalog = read_po(fh, locale=lang)
        for m in catalog:
            if m.id:
                assert all(s.strip() for s in forms(tuple(m.string) if isinstance(m.string, (list, tuple))
                                                    else m.string)), (lang, m.id)
    for key, entry in catalogues["en"].items():
        for lang, cat in catalogues.items():
            assert isinstance(cat[key], tuple) == isinstance(entry, tuple), (lang, key)


def test_placeholders_are_the_same_in_every_language(catalogues):
    for key, entry in catalogues["en"].items():
        want = set().union(*(fields(f) for f in forms(entry)))
        for lang, cat in catalogues.items():
            texts = forms(cat[key])
            found = set().union(*(fields(f) for f in texts))
            if isinstance(entry, tuple):  # a form may leave the count out ("one character"): never add a name
                assert found == want and "n" in want, (lang, key, found, want)
            else:
                assert found == want, (lang, key, found, want)
            for text in texts:  # and each formats
                text.format(**{name: "x" for name in want})


def keys_used(path: Path) -> list[tuple[str, bool]]:
    """(key, is_prefix) for every literal key a template or a Python file of the interface passes."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".py":
        return [(m[2], False) for m in PYTHON_CALL.finditer(text) if KEY.match(m[2]) and "." in m[2]]
    return [(m[2], bool(m[3])) for m in TEMPLATE_CALL.finditer(text)]


USERS = sorted(list(TEMPLATES.glob("*.j2")) + list(UI.glob("*.py")))


@pytest.mark.parametrize("path", USERS, ids=lambda p: p.name)
def test_every_key_a_template_or_view_uses_exists(path, catalogues):
    english = catalogues["en"]
    missing = [key for key, prefix in keys_used(path)
               if not (any(k.startswith(key) for k in english) if prefix else key in english)]
    assert missing == [], f"{path.name} uses keys no catalogue has: {missing}"


def test_the_scan_sees_the_dashboard_keys():
    seen = {k for p in USERS for k, _ in keys_used(p)}
    assert {"dash.case.verify", "dash.nav.logout", "dash.err.no_case", "err.unavailable", "dash.login.invalid",
            "dash.cta.segments", "form.title"} <= seen


@pytest.mark.parametrize("vocabulary", sorted(SHOWN))
def test_every_vocabulary_value_shown_has_a_key_in_every_language(vocabulary, catalogues):
    for value in SHOWN[vocabulary]:
        for lang, cat in catalogues.items():
            assert f"v.{vocabulary}.{value}" in cat, (lang, vocabulary, value)


def test_every_enum_the_dashboard_shows_is_covered():
    # A new member of any of these enums must get its key (SHOWN reads the enums, so this guards SHOWN itself).
    for enum, vocabulary in ((Urgency, "urgency"), (CaseStatus, "status"), (Consent, "consent"),
                             (IncidentType, "incident"), (Region, "region"), (CaseEventKind, "event"),
                             (ActionKind, "kind"), (Channel, "channel"), (paging.Paging, "paging"), (ChainKind, "chain")):
        assert issubclass(enum, StrEnum)
        assert [m.value for m in enum] == SHOWN[vocabulary]


def test_the_reporter_form_keys_survived_the_move_to_gettext(catalogues):
    assert catalogues["es"]["form.title"].startswith("Denunciar")
    assert catalogues["ar"]["f.country"] == "البلد (إلزامي)"
    assert i18n.translate("pt", "err.rate_limited", seconds=7).endswith("7 segundos.")
    assert not list((UI / "locales").glob("*.yaml")), "the YAML catalogues are gone"


def test_translate_falls_back_to_english_then_to_the_key():
    assert i18n.translate("es", "dash.case.verify") == "Verificar"
    assert i18n.translate("xx", "dash.case.verify") == "Verify"
    assert i18n.translate("fr", "no.such.key") == "no.such.key"  # visible, and found by the browser tests
    assert i18n.has("ar", "dash.case.verify") and not i18n.has("ar", "no.such.key")
    assert i18n.translate("en", "dash.nav.logout", name="Ana") == "Log out Ana"


@pytest.mark.parametrize("lang,counts", [
    ("en", {1: "1 SMS segment", 2: "2 SMS segments"}),
    ("es", {1: "1 segmento SMS", 3: "3 segmentos SMS"}),
    ("fr", {0: "0 segment SMS", 1: "1 segment SMS", 2: "2 segments SMS"}),
    ("pt", {1: "1 segmento de SMS", 4: "4 segmentos de SMS"}),
    ("ar", {1: "مقطع SMS واحد", 2: "مقطعا SMS", 3: "3 مقاطع SMS", 11: "11 مقطعًا SMS", 100: "100 مقطع SMS"}),
])
def test_plural_messages_take_the_form_of_their_count(lang, counts):
    for n, text in counts.items():
        assert i18n.translate(lang, "dash.cta.segments", n=n) == text
    js = i18n.plural_forms(lang, "dash.cta.segments")  # for Intl.PluralRules in the browser
    assert set(js) == set(Locale.parse(lang).plural_form.tags) | {"other"}


def test_language_choice_and_direction():
    assert i18n.pick_language("ar", "es", "fr") == "ar"
    assert i18n.pick_language(None, "es", "fr-CA,fr;q=0.9") == "es"
    assert i18n.pick_language("xx", None, "pt-BR,en;q=0.5") == "pt"
    assert i18n.pick_language(None, None, "de-DE") == "en"
    assert [i18n.direction(lang) for lang in i18n.LANGUAGES] == ["ltr", "ltr", "ltr", "rtl", "ltr"]
    assert set(i18n.NAMES) == set(i18n.LANGUAGES) and i18n.COOKIE == "sol_lang"


def test_dates_are_written_in_the_language_in_utc_and_say_so():
    when = datetime(2026, 3, 5, 9, 7, 9, tzinfo=timezone.utc)
    shown = {lang: format_when(when, lang) for lang in i18n.LANGUAGES}
    assert shown["en"] == "Mar 5, 2026, 09:07 UTC"
    assert shown["es"] == "5 mar 2026, 9:07 UTC"  # CLDR: Spanish writes the hour without a leading zero
    assert shown["fr"] == "5 mars 2026, 09:07 UTC"
    assert "مارس" in shown["ar"] and "UTC" in shown["ar"]
    assert "mar" in shown["pt"] and shown["pt"].endswith("UTC")
    # Another offset is converted to UTC; strings from JSON too; seconds, dates and times on their own.
    assert format_when("2026-03-05T11:07:09+02:00", "en", "seconds") == "Mar 5, 2026, 09:07:09 UTC"
    assert format_when(when, "fr", "date") == "5 mars 2026"
    assert format_when(when, "fr", "time") == "09:07:09 UTC"
    assert format_when(when, "en", utc=False) == "Mar 5, 2026, 09:07"
    assert format_when("not a date", "en") == "not a date" and format_when(None, "en") == ""


def test_the_system_chart_speaks_the_language():
    data = {"2026-03-04": {"low": 1, "medium": 0, "high": 2, "critical": 0}, "2026-03-05": {"critical": 3}}
    svg = str(chart_in(data, "fr"))
    assert 'aria-label="Cas par jour selon l&#39;urgence"' in svg and "max. 3/jour" in svg
    assert "<title>4 mars · haute: 2</title>" in svg and "5 mars" in svg and ">\u2068faible\u2069<" in svg
    assert not re.search(r">(low|medium|high|critical|max \d)", svg)


def test_templates_compile():
    for name in env().list_templates():
        env().get_template(name)


# --- the case page's buttons -----------------------------------------------------------------------------------

def event(kind: CaseEventKind, n: int, **data) -> CaseEvent:
    return CaseEvent(event_id=f"evt_{kind.value}_{n}", case_id="case_1", kind=kind, actor="desk",
                     at=datetime(2026, 5, 1, 12, n, tzinfo=timezone.utc), reason="because", data=data)


@pytest.fixture
def new_case():
    first = stored(named("Ana Pérez", incident_type="judicial_harassment", consent="network"), report_id="rep_1")
    return apply_event(None, CaseEvent(event_id="evt_open", case_id="case_1", kind=CaseEventKind.opened,
                                       actor="intake", report=first, data={"report_id": "rep_1"}))


def test_a_new_case_can_be_verified_escalated_closed_dismissed_or_shredded(new_case):
    assert new_case.status is CaseStatus.new and new_case.urgency is Urgency.medium
    assert allowed_verbs(new_case) == {"verify", "escalate", "consent", "close", "dismiss", "shred"}  # nobody paged
    assert higher_urgencies(new_case) == ["high", "critical"]


def test_a_verified_case_offers_no_verify(new_case):
    case = apply_event(new_case, event(CaseEventKind.verified, 1))
    assert allowed_verbs(case) == {"escalate", "consent", "close", "dismiss", "shred"}


@pytest.mark.parametrize("kind", [CaseEventKind.closed, CaseEventKind.dismissed])
def test_a_closed_or_dismissed_case_can_only_be_shredded(new_case, kind):
    case = apply_event(apply_event(new_case, event(CaseEventKind.verified, 1)), event(kind, 2))
    assert case.status in (CaseStatus.closed, CaseStatus.dismissed)
    assert allowed_verbs(case) == {"shred"}


def test_a_critical_case_cannot_be_escalated_and_a_shredded_one_not_changed(new_case):
    case = apply_event(new_case, event(CaseEventKind.escalated, 1, urgency="critical"))
    assert case.urgency is Urgency.critical and "escalate" not in allowed_verbs(case)
    shredded = apply_event(case, event(CaseEventKind.shredded, 2))
    assert shredded.shredded and allowed_verbs(shredded) == set()


def test_a_paged_case_can_be_acknowledged_once(new_case):
    paged = apply_event(new_case, event(CaseEventKind.paged, 1, index=0, step=1, round=1, members=["m1"]))
    assert "ack" in allowed_verbs(paged)
    acked = apply_event(paged, event(CaseEventKind.acknowledged, 2, via="dashboard"))
    assert "ack" not in allowed_verbs(acked)


# --- mechanisms by name ----------------------------------------------------------------------------------------

def test_mechanisms_are_shown_by_their_name_in_the_language_when_the_file_has_one():
    catalogue = load_catalogue()
    first = catalogue.mechanisms[0]
    shown = mechanism_names([first.id, "gone-mechanism"], "en")
    assert shown == [{"id": first.id, "name": first.name}, {"id": "gone-mechanism", "name": "gone mechanism"}]
    for mechanism in catalogue.mechanisms:
        for lang in i18n.LANGUAGES:
            want = (getattr(mechanism, "names", None) or {}).get(lang) or mechanism.name
            assert mechanism_names([mechanism.id], lang)[0]["name"] == want
