"""What the case and action pages show beyond their core: referrals, letters, reports back, charts.

The dashboard views call these and pass the result into their templates, which include `_case_extras.html.j2`
and `_action_extras.html.j2`.
"""

from __future__ import annotations

from agents.routing import load_catalogue
from agents.texts import country_name
from schemas.actions import LETTER_KINDS
from schemas.base import utcnow
from schemas.vocab import CaseStatus, Consent
from streams.runtime import Runtime
from streams.services import letters, referrals, responses
from streams.web.ui import i18n
from streams.web.ui.chart import by_region_svg, responses_over_time_svg


def case_extras(rt: Runtime, case, lang: str) -> dict:
    """Context for `_case_extras.html.j2` on the case page: the referrals and the form to make one."""
    catalogue = load_catalogue()
    options = []
    for mid in case.mechanisms:
        try:
            m = catalogue[mid]
        except KeyError:
            continue
        options.append({"id": m.id, "name": m.display_name(lang), "kind": m.kind.value,
                        "languages": list(m.languages), "email": str(m.referral.email),
                        "url": str(m.referral.url) if m.referral.url else None})
    can_refer = (not case.shredded and case.status is not CaseStatus.dismissed and case.consent >= Consent.mechanisms
                 and bool(options))
    return {"referrals": referrals.referrals_of(case), "referral_options": options, "can_refer": can_refer,
            "now": utcnow()}


def action_extras(rt: Runtime, action, lang: str) -> dict:
    """Context for `_action_extras.html.j2` on the action page: the letter, the tally, the reports and charts."""
    t = i18n.translate
    tally = responses.tally(rt, action.action_id)
    case = rt.views.cases.get(action.case_id)
    region_labels = {r: t(lang, f"v.region.{r}") for r in tally["by_region"]}
    series = {"signatures": t(lang, "dx.signatures"), "reports": t(lang, "dx.reports"),
              "empty": t(lang, "dx.chart.empty")}
    times = {k: v for k, v in tally["times"].items() if k == "signatures" or v}
    return {
        "is_letter": action.kind.value in LETTER_KINDS,
        "has_letter": bool(action.letter) and action.target is not None,
        "letter_sent": letters.sent_event(case, action.action_id),
        "tally": tally,
        "countries": {c: country_name(c, lang) for c in tally["by_country"]},
        "region_labels": region_labels,
        "chart_time": responses_over_time_svg(times, series, title=t(lang, "dx.chart.time"), now=utcnow()),
        "chart_regions": by_region_svg(tally["by_region"], {**region_labels, **series},
                                       title=t(lang, "dx.chart.regions"), rtl=i18n.direction(lang) == "rtl"),
        "shredded": case is None or case.shredded,
    }
