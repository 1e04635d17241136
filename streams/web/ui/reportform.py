"""The reporter form's data: choices, form fields to a ReportIn body, and pydantic errors to translated text."""

from __future__ import annotations

import re
from functools import lru_cache

import pycountry
from pydantic import ValidationError

from agents.texts import country_name
from schemas.base import problems_from
from schemas.vocab import Consent, Gender, Group, IncidentType
from streams.web.ui import i18n

MAX_DEFENDERS = 10
SHOWN_DEFENDERS = 3
INCIDENTS = [i.value for i in IncidentType]
GROUPS = [g.value for g in Group]
GENDERS = [g.value for g in Gender]
CONSENTS = [c.value for c in Consent]
OFFSETS = ["-12:00", "-11:00", "-10:00", "-09:00", "-08:00", "-07:00", "-06:00", "-05:00", "-04:00", "-03:30",
           "-03:00", "-02:00", "-01:00", "+00:00", "+01:00", "+02:00", "+03:00", "+03:30", "+04:00", "+04:30",
           "+05:00", "+05:30", "+05:45", "+06:00", "+06:30", "+07:00", "+08:00", "+09:00", "+09:30", "+10:00",
           "+11:00", "+12:00", "+13:00", "+14:00"]
DEFENDER_FIELDS = ("name", "organization", "gender", "detained", "incommunicado")


@lru_cache(maxsize=8)
def countries(lang: str) -> list[tuple[str, str]]:
    """(code, name in lang) for every ISO 3166 country, sorted by name."""
    rows = [(c.alpha_2, country_name(c.alpha_2, lang)) for c in pycountry.countries]
    return sorted(rows, key=lambda r: r[1].casefold())


def _text(form, name: str) -> str:
    return (form.get(name) or "").strip()


def defender_count(form) -> int:
    """How many defender fieldsets to show: those submitted (at least the default), plus one if asked."""
    used = [i for i in range(MAX_DEFENDERS) if any(f"defenders.{i}.{f}" in form for f in (*DEFENDER_FIELDS, "groups"))]
    shown = max(SHOWN_DEFENDERS, (max(used) + 1) if used else 0)
    if form.get("add_defender"):
        shown += 1
    return min(shown, MAX_DEFENDERS)


def _defender(form, i: int) -> dict | None:
    p = f"defenders.{i}."
    d = {"name": _text(form, p + "name") or None, "organization": _text(form, p + "organization") or None,
         "gender": _text(form, p + "gender") or "undisclosed", "groups": form.getall(p + "groups", []),
         "detained": bool(form.get(p + "detained")), "incommunicado": bool(form.get(p + "incommunicado"))}
    blank = not (d["name"] or d["organization"] or d["groups"] or d["detained"] or d["incommunicado"]
                 or d["gender"] != "undisclosed")
    return None if blank else d


def form_to_body(form) -> dict:
    """A ReportIn body from the posted form (empty fields left out, so 'required' errors name them)."""
    body: dict = {}
    for name in ("incident_type", "country", "locality", "description", "language", "corporate_actor", "consent",
                 "people_affected"):
        value = _text(form, name)
        if value:
            body[name] = value
    when, offset = _text(form, "occurred_at"), _text(form, "tz") or "+00:00"
    if when:
        body["occurred_at"] = (when + ":00" if len(when) == 16 else when) + offset
    body["ongoing"] = bool(form.get("ongoing"))
    body["imminent_danger"] = bool(form.get("imminent_danger"))
    body["defenders"] = [d for d in (_defender(form, i) for i in range(MAX_DEFENDERS)) if d is not None]
    contact = {k: _text(form, f"reporter_contact.{k}") for k in ("phone", "email")}
    if any(contact.values()):
        body["reporter_contact"] = {k: v for k, v in contact.items() if v}
    return body


def _generic(field: str) -> str:
    return re.sub(r"\.\d+(?=\.|$)", ".N", field)


def _kind(err_type: str, message: str, field: str) -> str:
    if err_type == "value_error" and field == "occurred_at":
        return "future" if "future" in message else "timezone"
    return err_type


def field_errors(exc: ValidationError, lang: str) -> dict[str, str]:
    """Translated error text per dotted field, by field + error kind, falling back to the English message."""
    out: dict[str, str] = {}
    english = problems_from(exc)
    for err, problem in zip(exc.errors(include_url=False, include_input=False), english):
        field, kind = problem.field, _kind(err["type"], err["msg"], problem.field)
        generic = _generic(field)
        for key in (f"err.{generic}.{kind}", f"err.{generic}", f"err.{kind}"):
            if i18n.has(lang, key):
                out.setdefault(field, i18n.translate(lang, key))
                break
        else:
            out.setdefault(field, problem.message)
    return out


def values_for_template(form) -> dict:
    """The submitted values, to refill the form after an error (never including the token)."""
    data = {k: form.get(k) for k in form.keys() if k not in ("token", "csrf")}
    data["_groups"] = {f"defenders.{i}": set(form.getall(f"defenders.{i}.groups", [])) for i in range(MAX_DEFENDERS)}
    return data
