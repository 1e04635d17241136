"""What an SMS reply asks for: SIGN, STOP, START, HELP, DONE, LINK or nothing we know, in the network's languages."""

from __future__ import annotations

import re
import unicodedata
from enum import StrEnum


class Intent(StrEnum):
    """The meaning of a reply."""

    sign = "sign"
    stop = "stop"
    start = "start"
    help = "help"
    ack = "ack"  # acknowledge a page (secretariat members only)
    esc = "esc"  # escalate a page to its next step now
    done = "done"  # report a decentralised action done ("DONE wrote to the embassy")
    link = "link"  # ask for the member's self-service link
    unknown = "unknown"


# Carriers and Twilio treat STOP-family words as opt-out in any language; we honour the common local ones too.
KEYWORDS: dict[Intent, set[str]] = {
    Intent.sign: {"sign", "signed", "firmo", "firma", "firmar", "signe", "signer", "je signe", "assino", "assinar",
                  "assina", "اوقع", "أوقع", "وقع", "توقيع", "اوقّع", "أوقّع"},
    Intent.stop: {"stop", "stopall", "unsubscribe", "cancel", "end", "quit", "baja", "alto", "parar", "para",
                  "arret", "arrêt", "arreter", "arrêter", "sair", "cancelar", "توقف", "الغاء", "إلغاء", "ايقاف", "إيقاف"},
    Intent.start: {"start", "yes", "unstop", "alta", "iniciar", "comenzar", "reprendre", "commencer", "começar",
                   "comecar", "voltar", "ابدأ", "ابدا", "بدء"},
    Intent.help: {"help", "info", "ayuda", "aide", "ajuda", "مساعدة", "مساعده"},
    # "1" as in paging tools; the local words a person answers a page with.
    Intent.ack: {"ack", "1", "ok", "okay", "acknowledged", "received", "recibido", "recibida", "visto", "reçu", "recu",
                 "reçue", "bien reçu", "recebido", "recebida", "تم", "تم الاستلام", "استلمت", "وصلت"},
    Intent.esc: {"esc", "escalate", "escalar", "escalade", "escalader", "تصعيد", "صعد"},
    # Not "تم" alone: that acknowledges a page. "تم التنفيذ" ("carried out") is matched before ACK's "تم".
    Intent.done: {"done", "hecho", "hecha", "listo", "realizado", "realizada", "fait", "fini", "effectué",
                  "feito", "feita", "pronto", "أنجزت", "انجزت", "نفذت", "فعلت", "تم التنفيذ"},
    Intent.link: {"link", "enlace", "lien", "رابط", "الرابط"},
}


# The one word each language's texts ask members to reply to sign (the `{sign_word}` placeholder); each is in KEYWORDS.
SIGN_WORDS: dict[str, str] = {"en": "SIGN", "es": "FIRMO", "fr": "SIGNE", "pt": "ASSINO", "ar": "أوقع"}


def sign_word(language: str) -> str:
    """The word members reply to sign in `language` (English's SIGN for a language we have no word for)."""
    return SIGN_WORDS.get(language, SIGN_WORDS["en"])


# The one word each language's texts ask members to reply with when they have done an action; each is in KEYWORDS.
DONE_WORDS: dict[str, str] = {"en": "DONE", "es": "HECHO", "fr": "FAIT", "pt": "FEITO", "ar": "أنجزت"}


def done_word(language: str) -> str:
    """The word members reply to report an action done in `language` (English's DONE if we have none)."""
    return DONE_WORDS.get(language, DONE_WORDS["en"])


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.strip().lower())
    # Drop combining marks (accents, Arabic harakat) and tatweel; keep letters.
    return "".join(c for c in decomposed if not unicodedata.combining(c) and c != "\u0640")


_FOLDED = {intent: {_fold(w) for w in words} for intent, words in KEYWORDS.items()}


REFERENCE = re.compile(r"\bSOL-[A-Z0-9]{5,8}\b", re.IGNORECASE)


def reference_in(body: str) -> str | None:
    """The case reference a reply names (ACK SOL-7K3Q9X), upper-cased, or None."""
    found = REFERENCE.search(body)
    return found.group(0).upper() if found else None


# The order intents are tried in: STOP first, always; DONE before ACK, whose "تم" begins DONE's "تم التنفيذ".
ORDER = (Intent.stop, Intent.start, Intent.sign, Intent.help, Intent.done, Intent.link, Intent.ack, Intent.esc)
_EDGE = " .!¡?¿،؟\n\t"
_WORD_EDGE = " .!¡?¿،؟,:"


def intent_of(body: str) -> Intent:
    """The intent of a reply: its whole text, or its first word, matched accent- and case-insensitively."""
    text = _fold(body).strip(_EDGE)
    if not text:
        return Intent.unknown
    words = [w.strip(_WORD_EDGE) for w in text.split()]
    heads = {words[0], " ".join(words[:2])}  # a keyword of one or two words ("bien reçu SOL-7K3Q9X")
    for intent in ORDER:
        if text in _FOLDED[intent] or heads & _FOLDED[intent]:
            return intent
    return Intent.unknown


NOTE_MAX = 500
_NOTE_LEAD = " \t\r\n.,:;!¡?¿،؛؟-–—"


def done_note(body: str) -> str | None:
    """What a member wrote after the DONE keyword ("DONE wrote to the embassy" -> "wrote to the embassy"), as
    written (case and accents kept), stripped, at most NOTE_MAX characters; None if nothing or not a DONE reply."""
    if intent_of(body) is not Intent.done:
        return None
    spans = list(re.finditer(r"\S+", body))
    for n in (2, 1):  # the longer keyword first: "تم التنفيذ" rather than "تم"
        if len(spans) < n:
            continue
        head = " ".join(_fold(m.group(0)).strip(_EDGE + _WORD_EDGE) for m in spans[:n])
        if head in _FOLDED[Intent.done]:
            note = body[spans[n - 1].end():].strip(_NOTE_LEAD)
            return note[:NOTE_MAX].rstrip() or None
    return None
