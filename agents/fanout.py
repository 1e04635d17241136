"""Who gets what: secretariat alerts and call-to-action notifications (plain functions, no I/O)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from agents.keywords import done_word, sign_word
from agents.texts import ACTION_PLACEHOLDERS, allowed_list, country_name, has, problems_in, render, render_text
from schemas.actions import CallToAction
from schemas.base import FieldProblem
from schemas.cases import Case
from schemas.members import Member
from schemas.notifications import Lane, Notification
from schemas.vocab import Channel, Consent, Role, Urgency

ALERT_LEVELS = (Urgency.high, Urgency.critical)


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", _fold(text))


def identifying_mentions(case: Case, text: str) -> list[str]:
    """Which identifying details of the case a text contains ('defenders.0.name', 'locality'), for do no harm."""
    words = set(_words(text))
    folded = " ".join(_words(text))
    found = []
    for report in case.reports:
        for i, defender in enumerate(report.report.defenders):
            if not defender.name:
                continue
            parts = [w for w in _words(defender.name) if len(w) >= 3]
            if " ".join(_words(defender.name)) in folded or any(p in words for p in parts):
                found.append(f"defenders.{i}.name")
        locality = report.report.locality
        if locality and " ".join(_words(locality)) in folded:
            found.append("locality")
    return sorted(set(found))


def check_do_no_harm(case: Case, messages: dict[str, str]) -> list[FieldProblem]:
    """Problems with texts for a case whose consent is only `network`: no names, no locality."""
    if case.consent is Consent.public:
        return []
    problems = []
    for lang, text in sorted(messages.items()):
        mentions = identifying_mentions(case, text)
        if mentions:
            what = " and ".join("a defender's name" if m.startswith("defenders") else "the locality" for m in mentions)
            problems.append(FieldProblem(field=f"messages.{lang}", message=(
                f"contains {what}; the case's consent is '{case.consent.value}', so members may not be told "
                "who or where (do no harm). Remove it, or record public consent first.")))
    return problems


def template_values(case: Case, language: str, deadline: str | None = None) -> dict[str, str | None]:
    """Values the placeholders of texts in `language` take for a case (never names or localities)."""
    return {
        "reference": case.reference, "country": country_name(case.country, language),
        "incident": render(f"incidents.{case.incident_type.value}", language), "urgency": case.urgency.value.upper(),
        "deadline": deadline, "sign_word": sign_word(language), "done_word": done_word(language),
    }


def prefill(case: Case, kind: str, languages: Iterable[str], deadline: str | None = None) -> dict[str, str]:
    """Catalogue texts per language for a call to action (the variant naming the deadline, if there is one)."""
    path = f"actions_by_deadline.{kind}" if deadline and has(f"actions_by_deadline.{kind}") else f"actions.{kind}"
    return {lang: render(path, lang, **template_values(case, lang, deadline)) for lang in languages}


def letter_prefill(case: Case, kind: str, languages: Iterable[str]) -> dict[str, str]:
    """The catalogue's draft letter per language for a sign-on letter or petition (empty for other kinds)."""
    if not has(f"letters.{kind}"):
        return {}
    return {lang: render(f"letters.{kind}", lang, **template_values(case, lang)) for lang in languages}


def action_texts(case: Case, messages: dict[str, str], language: str, deadline: str | None) -> tuple[str, str]:
    """The body (every channel) and email subject a call to action is sent with in `language`."""
    text = messages.get(language) or next(iter(messages.values()))
    values = template_values(case, language, deadline)
    return render_text(text, **values), render("action_subject", language, **values)


def check_texts(case: Case, messages: dict[str, str], deadline: str | None) -> list[FieldProblem]:
    """Problems per language with texts that are not plain text with known placeholders filled for this action."""
    out = []
    for lang, text in sorted(messages.items()):
        # The values fan_out_action will use; the body is the same on every channel (email adds a catalogue subject).
        found = problems_in(text, template_values(case, lang, deadline), ACTION_PLACEHOLDERS)
        if found:
            out.append(FieldProblem(field=f"messages.{lang}", message=(
                f"{'; '.join(found)}. Texts are plain text; the only placeholders are {allowed_list()}.")))
    return out


@dataclass
class FanOut:
    """Notifications to send and members skipped because they opted out of a channel."""

    notifications: list[Notification] = field(default_factory=list)
    opted_out: list[tuple[str, Channel]] = field(default_factory=list)


def action_key(action_id: str, member_id: str, channel: Channel) -> str:
    """The deterministic idempotency key of one action's notification to one member on one channel."""
    return f"act:{action_id}:{member_id}:{channel.value}"


def address(member: Member, channel: Channel) -> str | None:
    """The member's address on a channel, if any."""
    return member.phone if channel is Channel.sms else member.email


def has_channel(member: Member, channel: Channel) -> bool:
    """Whether the member lists the channel and has an address on it (opted out or not)."""
    return channel in member.channels and bool(address(member, channel))


def reachable(member: Member, channel: Channel) -> bool:
    """Whether a call to action on this channel would reach the member now."""
    return has_channel(member, channel) and channel not in member.opted_out


def targets(action: CallToAction, member: Member) -> Iterator[tuple[Channel, bool]]:
    """The action's channels this member can be reached on, each with whether they opted out of it."""
    for channel in action.channels:
        if has_channel(member, channel):
            yield channel, channel in member.opted_out


def plan_size(action: CallToAction, members: Iterable[Member]) -> tuple[int, int, set[str]]:
    """What fan_out_action would produce, without building it: (notifications, opted out, member ids reached)."""
    queued, skipped, reached = 0, 0, set()
    for member in members:
        for _, opted_out in targets(action, member):
            if opted_out:
                skipped += 1
            else:
                queued += 1
                reached.add(member.member_id)
    return queued, skipped, reached


def fan_out_action(action: CallToAction, case: Case, members: Iterable[Member]) -> FanOut:
    """One notification per (action, member, channel) in the member's language (English fallback)."""
    out = FanOut()
    deadline = action.deadline.strftime("%Y-%m-%d") if action.deadline else None
    texts: dict[str, tuple[str, str]] = {}  # language -> (body, email subject): rendered once per language
    for member in members:
        lang = member.language if member.language in action.messages else "en"
        if lang not in texts:
            texts[lang] = action_texts(case, action.messages, lang, deadline)
        body, subject = texts[lang]
        for channel, opted_out in targets(action, member):
            if opted_out:
                out.opted_out.append((member.member_id, channel))
                continue
            out.notifications.append(Notification(
                idempotency_key=action_key(action.action_id, member.member_id, channel), member_id=member.member_id,
                channel=channel, to=address(member, channel), language=lang, body=body,
                subject=subject if channel is Channel.email else None,
                lane=Lane.bulk, action_id=action.action_id, case_id=case.case_id,
            ))
    return out


def alert_notifications(case: Case, members: Iterable[Member], link: str) -> list[Notification]:
    """Alerts to every on-call secretariat member for a case at high or critical urgency."""
    if case.urgency not in ALERT_LEVELS:
        return []
    out = []
    for member in members:
        if Role.secretariat_oncall not in member.roles:
            continue
        lang = member.language
        values = template_values(case, lang) | {"link": link}
        for channel in (Channel.sms, Channel.email):
            if channel not in member.channels or channel in member.opted_out or not address(member, channel):
                continue
            out.append(Notification(
                idempotency_key=f"alert:{case.case_id}:{case.urgency.value}:{member.member_id}:{channel.value}",
                member_id=member.member_id, channel=channel, to=address(member, channel), language=lang,
                body=render("alert", lang, **values), lane=Lane.priority, case_id=case.case_id,
                subject=render("alert_subject", lang, **values) if channel is Channel.email else None,
            ))
    return out


def update_notifications(case: Case, members: Iterable[Member], link: str, event_id: str) -> list[Notification]:
    """One short SMS to each on-call member: a new report joined a case they were already paged about."""
    if case.urgency not in ALERT_LEVELS:
        return []
    out = []
    for member in members:
        if Role.secretariat_oncall not in member.roles or not reachable(member, Channel.sms):
            continue
        values = template_values(case, member.language) | {"link": link}
        out.append(Notification(
            idempotency_key=f"update:{case.case_id}:{event_id}:{member.member_id}:sms", member_id=member.member_id,
            channel=Channel.sms, to=member.phone, language=member.language,
            body=render("alert_update", member.language, **values), lane=Lane.priority, case_id=case.case_id))
    return out


def needs_alert(before: Case | None, after: Case) -> bool:
    """A new case at high/critical, or one whose urgency rose into high/critical."""
    if after.urgency not in ALERT_LEVELS:
        return False
    return before is None or after.urgency > before.urgency
