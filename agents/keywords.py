"""What an SMS reply asks for: SIGN, STOP, START, HELP or nothing we know, in the network's languages."""

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
}


# The one word each language's texts ask members to reply to sign (the `{sign_word}` placeholder); each is in KEYWORDS.
SIGN_WORDS: dict[str, str] = {"en": "SIGN", "es": "FIRMO", "fr": "SIGNE", "pt": "ASSINO", "ar": "أوقع"}


def sign_word(language: str) -> str:
    """The word members reply to sign in `language` (English's SIGN for a language we have no word for)."""
    return SIGN_WORDS.get(language, SIGN_WORDS["en"])


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


def intent_of(body: str) -> Intent:
    """The intent of a reply: its whole text, or its first word, matched accent- and case-insensitively."""
    text = _fold(body).strip(" .!¡?¿،؟\n\t")
    if not text:
        return Intent.unknown
    words = [w.strip(" .!¡?¿،؟,:") for w in text.split()]
    heads = {words[0], " ".join(words[:2])}  # a keyword of one or two words ("bien reçu SOL-7K3Q9X")
    for intent in (Intent.stop, Intent.start, Intent.sign, Intent.help, Intent.ack, Intent.esc):
        if text in _FOLDED[intent] or heads & _FOLDED[intent]:
            return intent
    return Intent.unknown
