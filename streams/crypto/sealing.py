"""Sealing: every field marked personal (schemas/base.py) is encrypted before a record reaches Kafka or a store.

A sealed field's JSON value is `{"$sealed": <data key id>, "ct": <base64 nonce + AES-256-GCM ciphertext>}`; the
plaintext is the field's JSON, the associated data `<subject>|<field name>`, where the subject is read from the
record's own ids (a case's data under `case:<case_id>`, a member's under `member:<member_id>`): a ciphertext
moved into another record, or another field, does not open. Nested models (a case's reports, a report's
defenders, a ledger entry's notification) are sealed field by field with the same rules.

Data of a shredded subject opens as a placeholder (None where the field may be empty, "[shredded]" or an empty
list or mapping otherwise); data written for a shredded subject is written as that placeholder.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from cryptography.exceptions import InvalidTag
from pydantic import BaseModel

from schemas.base import personal_fields
from streams.crypto.datakeys import DataKeys

SEALED = "$sealed"
PLACEHOLDER = "[shredded]"
NONCE = 12


class SealError(ValueError):
    """A sealed field that does not open: key missing (not shredded), or ciphertext moved or altered."""


def period_subject(at: datetime | None = None) -> str:
    """The subject of data with no case or member of its own: one key per month, shredded by retention."""
    return f"period:{(at or datetime.now(timezone.utc)):%Y-%m}"


def _case(data: dict) -> str | None:
    return f"case:{data['case_id']}" if data.get("case_id") else None


def _member(data: dict) -> str | None:
    return f"member:{data['member_id']}" if data.get("member_id") else None


def _own(data: dict) -> str | None:
    return data.get("subject") or None


def _body(data: dict) -> str | None:
    return _case(data) or _member(data)


# Whose data a record holds, by model name: read from the record's own (never personal) ids. A model not named
# here seals under the subject of the record it is nested in.
SUBJECTS: dict[str, Callable[[dict], str | None]] = {
    "ReportSubmitted": _case, "CaseEvent": _case, "Case": _case, "CaseSummary": _case, "CallToAction": _case,
    "Member": _member, "Notification": _body, "InboundReply": _own, "DeadLetter": _own,
    "SmsDraft": _own, "ActionResponse": _case,
}
# Fields sealed under another subject than their record's: a notification's address is its member's.
FIELD_SUBJECTS: dict[tuple[str, str], Callable[[dict], str | None]] = {("Notification", "to"): _member}
# Raw mappings that hold a model: the report body on reports.submitted.v1 is kept raw for the validator.
NESTED_AS: dict[tuple[str, str], str] = {("ReportSubmitted", "report"): "ReportIn"}


@dataclass
class Plan:
    """How one model is sealed: its personal fields (with their shredded placeholder) and nested models."""

    personal: dict[str, Any] = field(default_factory=dict)
    nested: dict[str, tuple[str, type[BaseModel]]] = field(default_factory=dict)
    rule: Callable[[dict], str | None] | None = None
    field_rules: dict[str, Callable[[dict], str | None]] = field(default_factory=dict)
    own_subject: bool = False

    @property
    def empty(self) -> bool:
        return not self.personal and not self.nested


def _models_in(annotation: Any) -> tuple[str, type[BaseModel]] | None:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _models_in(typing.get_args(annotation)[0])
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "one", annotation
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            found = _models_in(arg)
            if found:
                return found
        return None
    if origin in (list, tuple, set, frozenset):
        args = typing.get_args(annotation)
        inner = _models_in(args[0]) if args else None
        return ("list", inner[1]) if inner and inner[0] == "one" else None
    if origin is dict:
        args = typing.get_args(annotation)
        inner = _models_in(args[1]) if len(args) == 2 else None
        return ("dict", inner[1]) if inner and inner[0] == "one" else None
    return None


def _placeholder(info) -> Any:
    if not info.is_required() and info.default is None:
        return None
    annotation = info.annotation
    for arg in (annotation, *typing.get_args(annotation)):
        origin = typing.get_origin(arg) or arg
        if origin in (list, tuple, set, frozenset):
            return []
        if origin is dict:
            return {}
    return PLACEHOLDER


_PLANS: dict[type, Plan] = {}
_BY_NAME: dict[str, type[BaseModel]] = {}


def plan_of(model: type[BaseModel]) -> Plan:
    """The sealing plan of a model (computed once)."""
    plan = _PLANS.get(model)
    if plan is not None:
        return plan
    plan = Plan(rule=SUBJECTS.get(model.__name__), own_subject=SUBJECTS.get(model.__name__) is _own)
    _PLANS[model] = plan  # before recursing: models may nest themselves
    _BY_NAME[model.__name__] = model
    marked = personal_fields(model)
    for name, info in model.model_fields.items():
        if name in marked:
            plan.personal[name] = _placeholder(info)
            rule = FIELD_SUBJECTS.get((model.__name__, name))
            if rule:
                plan.field_rules[name] = rule
            continue
        target = NESTED_AS.get((model.__name__, name))
        found = ("one", _resolve(target)) if target else _models_in(info.annotation)
        if found and not plan_of(found[1]).empty:
            plan.nested[name] = found
    return plan


def _resolve(name: str) -> type[BaseModel]:
    if name not in _BY_NAME:
        from schemas import reports  # noqa: F401 - the only nested-as target today
        _BY_NAME.setdefault("ReportIn", reports.ReportIn)
    return _BY_NAME[name]


def _remember(cache: dict, key, value, limit: int) -> None:
    if len(cache) >= limit:
        for old in list(cache)[: limit // 10]:  # the oldest tenth
            del cache[old]
    cache[key] = value


class Sealer:
    """Seals and opens records with the data keys; with `enabled=False` it writes in the clear (benchmarks)."""

    CACHE = 50_000  # sealed values remembered each way (a case is re-sealed whole at every change)

    def __init__(self, keys: DataKeys, enabled: bool = True) -> None:
        self.keys, self.enabled = keys, enabled
        # The same value sealed again (a case's reports at each of its events, a table row and its snapshot) is
        # given the ciphertext it got before: that reveals only that the same field of the same subject holds
        # the same value, and no nonce ever seals two different texts. Opened values are remembered by their
        # ciphertext; both are found only while the data key lives (a shredded subject misses).
        self._sealed: dict[tuple[str, str, bytes], dict] = {}
        self._opened: dict[tuple[str, str, str], Any] = {}

    # Whole records ----------------------------------------------------------------------------------------------

    def dumps(self, obj: BaseModel) -> bytes:
        """A model as the JSON bytes stored on a topic, its personal fields sealed."""
        plan = plan_of(type(obj))
        if plan.empty or not self.enabled:
            return obj.model_dump_json().encode()
        return json.dumps(self.seal(type(obj), obj.model_dump(mode="json")), ensure_ascii=False,
                          separators=(",", ":")).encode()

    def loads(self, model: type[BaseModel], raw: bytes | str):
        """A model from stored JSON bytes, its sealed fields opened (pydantic validates the opened data)."""
        plan = plan_of(model)
        if plan.empty or (SEALED.encode() not in raw if isinstance(raw, bytes) else SEALED not in raw):
            return model.model_validate_json(raw)
        return model.model_validate(self.open(model, json.loads(raw)))

    # Plain data -----------------------------------------------------------------------------------------------

    def seal(self, model: type[BaseModel], data: Any, subject: str | None = None) -> Any:
        """A copy of a model's JSON data with every personal field sealed."""
        if not self.enabled or not isinstance(data, dict):
            return data
        return self._seal(plan_of(model), data, subject)

    def open(self, model: type[BaseModel], data: Any, subject: str | None = None) -> Any:
        """A copy of sealed JSON data with every sealed field opened (placeholders where shredded)."""
        if not isinstance(data, dict):
            return data
        return self._open(plan_of(model), data, subject)

    def _subject(self, plan: Plan, data: dict, inherited: str | None) -> str | None:
        return (plan.rule(data) if plan.rule else None) or inherited

    def _seal(self, plan: Plan, data: dict, inherited: str | None) -> dict:
        out = dict(data)
        if plan.own_subject and not out.get("subject"):
            out["subject"] = period_subject()
        subject = self._subject(plan, out, inherited)
        for name, placeholder in plan.personal.items():
            value = out.get(name)
            if value is None or value == "" or (isinstance(value, dict) and SEALED in value):
                continue
            rule = plan.field_rules.get(name)
            out[name] = self._encrypt((rule(out) if rule else None) or subject or period_subject(), name, value,
                                      placeholder)
        for name, (shape, model) in plan.nested.items():
            value = out.get(name)
            if value:
                out[name] = self._walk(self._seal, plan_of(model), shape, value, subject)
        return out

    def _open(self, plan: Plan, data: dict, inherited: str | None) -> dict:
        out = dict(data)
        subject = self._subject(plan, out, inherited)
        for name, placeholder in plan.personal.items():
            value = out.get(name)
            if isinstance(value, dict) and SEALED in value:
                rule = plan.field_rules.get(name)
                out[name] = self._decrypt((rule(out) if rule else None) or subject, name, value, placeholder)
        for name, (shape, model) in plan.nested.items():
            value = out.get(name)
            if value:
                out[name] = self._walk(self._open, plan_of(model), shape, value, subject)
        return out

    @staticmethod
    def _walk(step, plan: Plan, shape: str, value: Any, subject: str | None) -> Any:
        if shape == "one":
            return step(plan, value, subject) if isinstance(value, dict) else value
        if shape == "list":
            return [step(plan, v, subject) if isinstance(v, dict) else v for v in value] \
                if isinstance(value, list) else value
        return {k: step(plan, v, subject) if isinstance(v, dict) else v for k, v in value.items()} \
            if isinstance(value, dict) else value

    def _encrypt(self, subject: str, name: str, value: Any, placeholder: Any) -> Any:
        found = self.keys.current(subject)
        if found is None:  # shredded: nothing personal is written for it again
            return placeholder
        dek_id, aead = found
        plain = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
        ad = f"{subject}|{name}"
        memo = (dek_id, ad, plain)
        hit = self._sealed.get(memo)
        if hit is not None:
            return dict(hit)
        nonce = os.urandom(NONCE)
        ct = aead.encrypt(nonce, plain, ad.encode())
        out = {SEALED: dek_id, "ct": base64.b64encode(nonce + ct).decode()}
        _remember(self._sealed, memo, out, self.CACHE)
        return dict(out)

    def _decrypt(self, subject: str | None, name: str, value: dict, placeholder: Any) -> Any:
        dek_id = value[SEALED]
        if subject is not None and self.keys.is_shredded(subject):
            return placeholder
        aead = self.keys.get(dek_id)
        if aead is None:
            if subject is None or self.keys.is_shredded(subject):
                return placeholder
            raise SealError(f"field {name}: data key {dek_id} of {subject} is not known (not shredded)")
        subject = subject or self.keys.subject_of(dek_id)
        ad = f"{subject}|{name}"
        ct_text = value.get("ct", "")
        memo = (dek_id, ad, ct_text if isinstance(ct_text, str) else "")
        if memo in self._opened:
            return json.loads(self._opened[memo])
        try:
            raw = base64.b64decode(ct_text)
            plain = aead.decrypt(raw[:NONCE], raw[NONCE:], ad.encode())
        except (InvalidTag, ValueError, TypeError):
            raise SealError(f"field {name}: ciphertext does not open for {subject} (moved or altered)") from None
        _remember(self._opened, memo, plain, self.CACHE)
        return json.loads(plain)

    # Blind index ------------------------------------------------------------------------------------------------

    def blind(self, kind: str, value: str) -> str:
        """A keyed hash standing for a phone number or an email wherever a key or lookup needs one."""
        normal = value.strip().lower() if kind == "email" else value.strip()
        digest = hmac.new(self.keys.ring.blind_index_key, f"{kind}:{normal}".encode(), hashlib.sha256).hexdigest()
        return f"{kind[0]}_{digest[:32]}"
