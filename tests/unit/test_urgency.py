"""Urgency: base level per incident type, the four escalators, the cap, and the reasons given."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.urgency import BASE_LEVELS, assess_urgency, base_level
from schemas.reports import ReportIn
from schemas.vocab import IncidentType, Urgency

QUIET = "Unknown men watched the office of the association two years ago."


def report(**overrides: Any) -> ReportIn:
    """A valid report with no escalator, changed by the overrides."""
    body: dict[str, Any] = {
        "incident_type": "judicial_harassment",
        "country": "PH",
        "occurred_at": "2025-03-01T10:00:00+00:00",
        "description": QUIET,
        "language": "en",
        "defenders": [{"name": "Ana Reyes"}],
        "consent": "network",
    }
    body.update(overrides)
    return ReportIn.model_validate(body)


BASES = [
    ("killing", "critical"), ("attempted_killing", "critical"), ("enforced_disappearance", "critical"),
    ("abduction", "critical"),
    ("arbitrary_detention", "high"), ("torture_ill_treatment", "high"), ("physical_attack", "high"),
    ("sexual_violence", "high"), ("death_threat", "high"), ("raid_search", "high"), ("forced_eviction", "high"),
    ("judicial_harassment", "medium"), ("threat_intimidation", "medium"), ("land_grab", "medium"),
    ("surveillance", "medium"), ("smear_campaign", "medium"), ("travel_ban", "medium"), ("org_closure", "medium"),
    ("other", "low"),
]


def test_every_incident_type_has_exactly_one_base_level() -> None:
    assert sorted(t for t, _ in BASES) == sorted(t.value for t in IncidentType)
    assert set(BASE_LEVELS) == set(IncidentType)


@pytest.mark.parametrize(("incident_type", "level"), BASES)
def test_base_level(incident_type: str, level: str) -> None:
    result = assess_urgency(report(incident_type=incident_type))
    assert base_level(IncidentType(incident_type)) == Urgency(level)
    assert result.level == Urgency(level)
    assert result.reasons == (f"base: {incident_type} is {level}",)


DETAINED_INCOMMUNICADO = [{"name": "Ana Reyes", "detained": True, "incommunicado": True}]

# Each escalator alone, on a medium base (judicial_harassment unless the row says otherwise).
ESCALATORS = [
    ("flag", {"imminent_danger": True}, "imminence: imminent_danger flag set"),
    ("text", {"description": "The police will arrest him tonight at home."}, 'imminence: description says "tonight"'),
    ("incommunicado", {"defenders": DETAINED_INCOMMUNICADO}, "incommunicado: 1 defender detained incommunicado"),
    ("collective at 50", {"people_affected": 50}, "collective: 50 people affected (>= 50)"),
    ("collective above", {"people_affected": 3000}, "collective: 3000 people affected (>= 50)"),
]


@pytest.mark.parametrize(("overrides", "reason"), [row[1:] for row in ESCALATORS], ids=[r[0] for r in ESCALATORS])
def test_escalator_raises_one_level(overrides: dict[str, Any], reason: str) -> None:
    result = assess_urgency(report(**overrides))
    assert result.level == Urgency.high
    assert result.reasons[1] == f"{reason} (medium -> high)"
    assert len(result.reasons) == 2


ONGOING_TYPES = ["arbitrary_detention", "torture_ill_treatment", "physical_attack", "sexual_violence",
                 "forced_eviction", "raid_search"]


@pytest.mark.parametrize("incident_type", ONGOING_TYPES)
def test_ongoing_physical_harm_raises_high_to_critical(incident_type: str) -> None:
    result = assess_urgency(report(incident_type=incident_type, ongoing=True))
    assert result.level == Urgency.critical
    assert result.reasons[1] == f"ongoing: {incident_type} still going on (high -> critical)"


NOT_ESCALATING = [
    ("ongoing but not physical", {"ongoing": True, "incident_type": "judicial_harassment"}),
    ("ongoing threat", {"ongoing": True, "incident_type": "death_threat"}),
    ("ongoing land grab", {"ongoing": True, "incident_type": "land_grab"}),
    ("detained, family has contact", {"defenders": [{"name": "A", "detained": True}]}),
    ("incommunicado but not detained", {"defenders": [{"name": "A", "incommunicado": True}]}),
    ("49 people", {"people_affected": 49}),
    ("one person", {"people_affected": 1}),
    ("past night", {"description": "He was beaten last night by two policemen."}),
    ("next month", {"description": "The hearing is scheduled for next month in Manila."}),
]


@pytest.mark.parametrize("overrides", [r[1] for r in NOT_ESCALATING], ids=[r[0] for r in NOT_ESCALATING])
def test_no_escalation(overrides: dict[str, Any]) -> None:
    r = report(**overrides)
    result = assess_urgency(r)
    assert result.level == BASE_LEVELS[r.incident_type]
    assert len(result.reasons) == 1


def test_flag_and_text_count_once() -> None:
    result = assess_urgency(report(imminent_danger=True, description="Van a detenerla esta noche en su casa."))
    assert result.level == Urgency.high
    assert result.reasons[1] == 'imminence: imminent_danger flag set and description says "esta noche" (medium -> high)'


def test_imminence_reason_names_phrase_as_written() -> None:
    result = assess_urgency(report(description="Nos quieren sacar ESTA NOCHE de la tierra."))
    assert result.reasons[1].startswith('imminence: description says "ESTA NOCHE"')


def test_escalators_stack_and_stop_at_critical() -> None:
    result = assess_urgency(report(
        incident_type="other", imminent_danger=True, people_affected=80, defenders=DETAINED_INCOMMUNICADO,
    ))
    assert result.level == Urgency.critical
    assert [r.split(":")[0] for r in result.reasons] == ["base", "imminence", "incommunicado", "collective"]
    assert result.reasons[1].endswith("(low -> medium)")
    assert result.reasons[3].endswith("(high -> critical)")


def test_ongoing_does_not_apply_to_other() -> None:
    result = assess_urgency(report(incident_type="other", ongoing=True, imminent_danger=True))
    assert result.level == Urgency.medium
    assert not any(r.startswith("ongoing") for r in result.reasons)


def test_all_four_escalators_on_high_record_the_capped_ones() -> None:
    result = assess_urgency(report(
        incident_type="physical_attack", imminent_danger=True, people_affected=80,
        defenders=DETAINED_INCOMMUNICADO, ongoing=True,
    ))
    assert result.level == Urgency.critical
    assert len(result.reasons) == 5
    assert result.reasons[1].endswith("(high -> critical)")
    assert all(r.endswith("(already critical)") for r in result.reasons[2:])


@pytest.mark.parametrize("incident_type", ["killing", "attempted_killing", "enforced_disappearance", "abduction"])
def test_critical_base_still_records_escalators(incident_type: str) -> None:
    result = assess_urgency(report(incident_type=incident_type, imminent_danger=True, people_affected=200))
    assert result.level == Urgency.critical
    assert result.reasons[1:] == (
        "imminence: imminent_danger flag set (already critical)",
        "collective: 200 people affected (>= 50) (already critical)",
    )


def test_two_incommunicado_defenders_count_once() -> None:
    result = assess_urgency(report(defenders=DETAINED_INCOMMUNICADO * 2))
    assert result.level == Urgency.high
    assert result.reasons[1] == "incommunicado: 2 defenders detained incommunicado (medium -> high)"


DESCRIPTIONS = [QUIET, "They will evict the families tonight.", "Lo van a detener ahora mismo.",
                "Il a été arrêté l'année dernière.", "سيتم اعتقاله الليلة", "Foi ameaçado há dois anos."]


@settings(max_examples=200, deadline=None)
@given(
    incident_type=st.sampled_from(list(IncidentType)),
    imminent=st.booleans(),
    ongoing=st.booleans(),
    people=st.one_of(st.none(), st.integers(min_value=1, max_value=10_000)),
    detained=st.booleans(),
    incommunicado=st.booleans(),
    description=st.one_of(st.sampled_from(DESCRIPTIONS), st.text(min_size=10, max_size=200).map(lambda t: "Report " + t)),
)
def test_urgency_never_below_base_nor_above_critical(
    incident_type: IncidentType, imminent: bool, ongoing: bool, people: int | None,
    detained: bool, incommunicado: bool, description: str,
) -> None:
    r = report(
        incident_type=incident_type, imminent_danger=imminent, ongoing=ongoing, people_affected=people,
        description=description, defenders=[{"name": "X", "detained": detained, "incommunicado": incommunicado}],
    )
    result = assess_urgency(r)
    base = BASE_LEVELS[incident_type]
    assert base <= result.level <= Urgency.critical
    escalations = len(result.reasons) - 1
    assert result.level.rank == min(base.rank + escalations, Urgency.critical.rank)
    # Adding the imminent_danger flag can never lower the level.
    assert assess_urgency(r.model_copy(update={"imminent_danger": True})).level >= result.level
