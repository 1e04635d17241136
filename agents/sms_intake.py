"""Reports texted in by registered field reporters: one structured SMS, or a short guided conversation.

The caller keeps one Conversation per reporter number, passes each SMS to advance(), sends Turn.reply and
submits Turn.report. Keywords and texts are data (agents/data/sms_intake.yaml, read by agents.sms_words).
No text sent back repeats what the reporter wrote: an SMS may be read by someone else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any, Literal

from pydantic import Field

from agents.sms_words import Match, Vocabulary, load_vocabulary, word_key
from schemas.base import PERSONAL, Message, personal
from schemas.fields import AwareDatetime, CountryCode, LanguageCode
from schemas.vocab import Consent, IncidentType

TIMEOUT = timedelta(minutes=30)
MAX_REASKS = 3
MIN_DESCRIPTION = 10  # ReportIn.description's min_length
Asked = Literal["incident_type", "country", "description", "consent"]
ORDER: tuple[Asked, ...] = ("incident_type", "country", "description", "consent")
Status = Literal["received", "verified", "action", "closed"]

# streams/ids.py makes references of SOL- and 6 characters of Crockford base32 (no I, L, O, U); as Crockford
# decoding does, a misread O is taken for 0 and an I or L for 1.
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_MISREAD = str.maketrans("OIL", "011")
_STATUS = re.compile(r"\s*(\S+)\s+SOL\s*[-\u2010-\u2014]?\s*([0-9A-Z]{6})(?![0-9A-Z])", re.IGNORECASE | re.ASCII)
_FIRST = re.compile(r"\s*([^\s:,.;!?؟،؛]+)[\s:,.;!?؟،؛]*")
_HASHTAG = re.compile(r"#([^\s#.,;:!?؟،؛]+)")
_SEPARATOR = re.compile(r"(?<!\d):|:(?!\d)")  # the first colon that is not inside a time such as 10:30
_TRIM = " \t\r\n:;,.-\u2013\u2014"


@dataclass(frozen=True)
class Structured:
    """What a one-line report gave; anything it could not read is None and gets asked for."""

    language: str
    incident_type: IncidentType | None = None
    country: str | None = None
    locality: str | None = None
    description: str | None = None
    consent: Consent | None = None


class Conversation(Message):
    """A report being put together by SMS with one reporter, kept by the caller between messages."""

    language: LanguageCode = Field(description="Language of the questions and of the report.")
    incident_type: IncidentType | None = Field(None, description="What happened, once known.")
    country: CountryCode | None = Field(None, description="ISO 3166-1 alpha-2 country, once known.")
    locality: Annotated[str | None, PERSONAL] = personal(None, max_length=200, description="Town or area, if given.")
    description: Annotated[str | None, PERSONAL] = personal(None, max_length=10_000, description="What happened.")
    consent: Consent | None = Field(None, description="How far it may be shared, once the reporter said so.")
    asked: Asked | None = Field(None, description="The field the last question asked for.")
    reasks: int = Field(0, ge=0, description="Times that field was asked again after an answer we could not read.")
    started_at: AwareDatetime = Field(description="When the conversation started.")
    updated_at: AwareDatetime = Field(description="When the reporter last wrote.")
    turns: int = Field(1, ge=1, description="Messages received from the reporter in this conversation.")


@dataclass(frozen=True)
class Turn:
    """What one SMS did: the conversation to keep (None: forget it), the SMS to send back, the report to submit."""

    conversation: Conversation | None
    reply: str | None
    report: dict[str, Any] | None
    expired: bool = False
    ended: Literal["completed", "cancelled", "abandoned"] | None = None


def _consent_tags(text: str, vocab: Vocabulary) -> tuple[str, Consent | None, tuple[str, ...]]:
    """The text without its consent hashtags, the narrowest consent they give, and their languages."""
    found: list[Match] = []

    def take(match: re.Match) -> str:
        word = vocab.consent.at([word_key(match.group(1))], 0)
        if word is None:
            return match.group(0)
        found.append(word)
        return ""

    rest = _HASHTAG.sub(take, text)
    # Two markers that disagree: never assume the wider one.
    consent = min((m.value for m in found), default=None)
    return rest, consent, tuple(lang for m in found for lang in m.languages)


def _locality(text: str) -> str | None:
    return text.strip(_TRIM)[:200] or None


def _description(text: str) -> str | None:
    text = text.strip().lstrip(_TRIM)
    return text[:10_000] if len(text) >= MIN_DESCRIPTION else None


def _shouting(text: str) -> bool:
    """Whether the text is all in capitals (then capitals do not mark a country code)."""
    cased = [w for w in re.findall(r"[^\W\d_]{3,}", text) if w.upper() != w.lower()]
    return bool(cased) and all(w.isupper() for w in cased)


def _pick_language(candidates: tuple[str, ...], hints: list[tuple[str, ...]], registered: str | None) -> str:
    languages = list(candidates)
    for hint in hints:
        languages = [lang for lang in languages if lang in hint] or languages
    return registered if registered in languages else languages[0]


def parse_structured(text: str, language: str | None = None) -> Structured | None:
    """Read `<ALERT> <incident> <country> <locality>: <what happened>`; None unless it starts with an alert word.

    `language` (the reporter's registered one) only breaks ties between the languages an alert word belongs to.
    """
    vocab = load_vocabulary()
    first = _FIRST.match(text)
    alert = vocab.alert.at([word_key(first.group(1))], 0) if first else None
    if alert is None:
        return None
    rest, consent, consent_languages = _consent_tags(text[first.end():], vocab)
    separator = _SEPARATOR.search(rest)
    head = rest[:separator.start()] if separator else rest
    spans = [w for w in re.finditer(r"\S+", head) if word_key(w.group())]
    words = [w.group() for w in spans]
    keys = [word_key(w) for w in words]
    incident = vocab.incidents.at(keys, 0)
    start = incident.size if incident else 0
    shouting = _shouting(rest)
    at, country = start, vocab.country_at(keys, words, start, incident is not None, shouting)
    # Unknown words before the country (an incident we do not know) are skipped.
    later = range(start + 1, len(keys)) if separator else range(1, 2) if incident is None else range(0)
    while country is None and at + 1 in later:
        at += 1
        country = vocab.country_at(keys, words, at, False, shouting)
    end = at + country.size if country else start
    if separator:
        locality = _locality(" ".join(words[end:])) if country else None
        description = _description(rest[separator.end():])
    else:
        locality = None
        description = _description(head[spans[end].start():]) if end < len(spans) else None
    hints = [incident.languages] if incident else []
    return Structured(
        language=_pick_language(alert.languages, [*hints, consent_languages], language),
        incident_type=incident.value if incident else None, country=country.value if country else None,
        locality=locality, description=description, consent=consent,
    )


def _number(text: str) -> int | None:
    words = word_key(text).split()
    # int() reads Arabic-Indic digits too: "٣" is 3.
    return int(words[0]) if words and words[0].isdecimal() and len(words[0]) <= 2 else None


def _read_incident(text: str, vocab: Vocabulary) -> dict[str, Any] | None:
    number = _number(text)
    if number is not None:
        return {"incident_type": vocab.menu[number - 1]} if 1 <= number <= len(vocab.menu) else None
    found = vocab.incidents.at(word_key(text).split(), 0)
    return {"incident_type": found.value} if found else None


def _read_country(text: str, vocab: Vocabulary) -> dict[str, Any] | None:
    words = [w for w in text.split() if word_key(w)]
    keys = [word_key(w) for w in words]
    # A bare "pe" is Peru; a code followed by more words must be in capitals ("no se" is not Norway).
    found = vocab.country_at(keys, words, 0, len(keys) == 1, _shouting(text))
    if found is None:
        return None
    locality = _locality(" ".join(words[found.size:]))
    return {"country": found.value, **({"locality": locality} if locality else {})}


def _read_description(text: str, vocab: Vocabulary) -> dict[str, Any] | None:
    rest, consent, _ = _consent_tags(text, vocab)
    description = _description(rest)
    if description is None:
        return None
    return {"description": description, **({"consent": consent} if consent else {})}


def _read_consent(text: str, vocab: Vocabulary) -> dict[str, Any] | None:
    number = _number(text)
    if number is not None:
        return {"consent": list(Consent)[number - 1]} if 1 <= number <= len(Consent) else None
    found = vocab.consent.at(word_key(text).split(), 0)
    return {"consent": found.value} if found else None


_READERS = {"incident_type": _read_incident, "country": _read_country, "description": _read_description,
            "consent": _read_consent}


def _question(field: Asked, language: str, vocab: Vocabulary) -> str:
    if field == "incident_type":
        return vocab.text("ask_incident_type", language, menu=vocab.menu_text(language))
    return vocab.text(f"ask_{field}", language)


def _hint(field: Asked, language: str, vocab: Vocabulary) -> str:
    return vocab.text(f"hint_{field}", language, last=len(vocab.menu))


def _report(conversation: Conversation, now: datetime) -> dict[str, Any]:
    """A ReportIn body: one anonymous defender, when = now (an SMS report is about something that just happened)."""
    body = {
        "incident_type": str(conversation.incident_type), "country": conversation.country,
        "occurred_at": now.isoformat(), "description": conversation.description,
        "language": conversation.language, "defenders": [{}], "consent": str(conversation.consent),
    }
    return body | ({"locality": conversation.locality} if conversation.locality else {})


def _ask_next(conversation: Conversation, now: datetime, vocab: Vocabulary, expired: bool = False) -> Turn:
    missing = next((field for field in ORDER if getattr(conversation, field) is None), None)
    if missing is None:
        return Turn(None, None, _report(conversation, now), expired, "completed")
    asking = conversation.model_copy(update={"asked": missing, "reasks": 0})
    return Turn(asking, _question(missing, conversation.language, vocab), None, expired)


def _restarts(structured: Structured, text: str, vocab: Vocabulary) -> bool:
    # Inside a conversation only a bare alert word or a message we can read as a report starts over, so an
    # answer such as "Alerta, volvieron anoche..." stays an answer.
    return bool(vocab.alert.at([word_key(text)], 0) or structured.incident_type or structured.country)


def advance(conversation: Conversation | None, text: str, now: datetime, language: str | None = None,
            timeout: timedelta = TIMEOUT) -> Turn:
    """Take one SMS from a registered reporter: start, continue, finish, cancel or abandon their report."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    now = now.astimezone(timezone.utc)
    vocab = load_vocabulary()
    previous = conversation
    expired = conversation is not None and now - conversation.updated_at > timeout
    if expired:
        conversation = None
    if parse_status(text) is not None:
        return Turn(conversation, None, None, expired)  # the caller answers status requests
    tie = language or (previous.language if previous else None)
    structured = parse_structured(text, tie)
    if structured is not None and (conversation is None or _restarts(structured, text, vocab)):
        started = Conversation(
            language=structured.language, incident_type=structured.incident_type, country=structured.country,
            locality=structured.locality, description=structured.description, consent=structured.consent,
            started_at=now, updated_at=now,
        )
        return _ask_next(started, now, vocab, expired)
    if conversation is None:
        if not expired or previous is None:
            return Turn(None, None, None, expired)
        lang = previous.language
        reply = vocab.text("expired", lang, minutes=int(timeout.total_seconds() // 60),
                           alert=vocab.first_word("alert", lang))
        return Turn(None, reply, None, expired)
    lang = conversation.language
    if vocab.cancel.at([word_key(text)], 0):
        return Turn(None, vocab.text("cancelled", lang, alert=vocab.first_word("alert", lang)), None,
                    ended="cancelled")
    conversation = conversation.model_copy(update={"updated_at": now, "turns": conversation.turns + 1})
    if conversation.asked is None:
        return _ask_next(conversation, now, vocab)
    update = _READERS[conversation.asked](text, vocab)
    if update is not None and conversation.consent is not None and "consent" in update:
        update["consent"] = min(update["consent"], conversation.consent)  # never widen what was said
    if update is not None:
        return _ask_next(conversation.model_copy(update=update), now, vocab)
    if conversation.reasks >= MAX_REASKS:
        return Turn(None, vocab.text("abandoned", lang, alert=vocab.first_word("alert", lang)), None,
                    ended="abandoned")
    return Turn(conversation.model_copy(update={"reasks": conversation.reasks + 1}),
                _hint(conversation.asked, lang, vocab), None)


def parse_status(text: str) -> str | None:
    """The reference in `STATUS SOL-XXXXXX` (ESTADO, STATUT, SITUACAO, حالة ...), upper-cased; else None."""
    match = _STATUS.match(text)
    if match is None or load_vocabulary().status.at([word_key(match.group(1))], 0) is None:
        return None
    code = match.group(2).upper().translate(_MISREAD)
    return f"SOL-{code}" if all(c in ALPHABET for c in code) else None


def status_reply(state: Status, reference: str, language: str) -> str:
    """A short SMS on where a report stands, naming nothing but its reference."""
    return load_vocabulary().text(f"status_{state}", language, reference=reference)


def unknown_reference_reply(reference: str, language: str) -> str:
    """The SMS for a status request about a reference this number never reported."""
    return load_vocabulary().text("unknown_reference", language, reference=reference)


def received_reply(reference: str, language: str) -> str:
    """The SMS confirming a report was received, with its reference and how to ask for news."""
    vocab = load_vocabulary()
    return vocab.text("received", language, reference=reference, status=vocab.first_word("status", language))
