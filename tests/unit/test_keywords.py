"""Reply keywords in the network's languages."""

import itertools
import unicodedata

import pytest

from agents.keywords import (
    DONE_WORDS, KEYWORDS, NOTE_MAX, ORDER, SIGN_WORDS, Intent, _fold, done_note, done_word, intent_of, sign_word,
)


@pytest.mark.parametrize("body,intent", [
    ("SIGN", Intent.sign), ("sign", Intent.sign), ("FIRMO", Intent.sign), ("Firmo!", Intent.sign),
    ("SIGNE", Intent.sign), ("je signe", Intent.sign), ("ASSINO", Intent.sign), ("assino.", Intent.sign),
    ("أوقع", Intent.sign), ("اوقع", Intent.sign),
    ("STOP", Intent.stop), ("stop please", Intent.stop), ("BAJA", Intent.stop), ("ARRÊT", Intent.stop),
    ("arret", Intent.stop), ("SAIR", Intent.stop), ("توقف", Intent.stop), ("UNSUBSCRIBE", Intent.stop),
    ("START", Intent.start), ("ALTA", Intent.start), ("COMEÇAR", Intent.start), ("ابدأ", Intent.start),
    ("HELP", Intent.help), ("AYUDA", Intent.help), ("AIDE", Intent.help), ("AJUDA", Intent.help), ("مساعدة", Intent.help),
    ("hello there", Intent.unknown), ("", Intent.unknown), ("   ", Intent.unknown), ("signature?", Intent.unknown),
])
def test_intent_of_reply(body, intent):
    assert intent_of(body) is intent


# --- DONE and LINK, and the keyword table as a whole ---

DONE_BY_LANGUAGE = {
    "en": ["DONE"],
    "es": ["HECHO", "HECHA", "LISTO", "REALIZADO", "REALIZADA"],
    "fr": ["FAIT", "FINI", "EFFECTUÉ"],
    "pt": ["FEITO", "FEITA", "PRONTO", "REALIZADO", "REALIZADA"],
    "ar": ["أنجزت", "انجزت", "نفذت", "فعلت", "تم التنفيذ"],
}
LINK_BY_LANGUAGE = {"en": ["LINK"], "es": ["ENLACE"], "fr": ["LIEN"], "pt": ["LINK"], "ar": ["رابط", "الرابط"]}


def _variants(word: str) -> list[str]:
    """The ways a member may type a word: as listed, lower, title case, unaccented, padded, with punctuation."""
    plain = "".join(c for c in unicodedata.normalize("NFD", word) if not unicodedata.combining(c))
    return [word, word.lower(), word.title(), plain, plain.lower(), f"  {word}  ", f"{word}!", f"¡{word}!", f"{word}.",
            unicodedata.normalize("NFD", word)]


@pytest.mark.parametrize("intent,language,word", [
    *((Intent.done, lang, w) for lang, words in DONE_BY_LANGUAGE.items() for w in words),
    *((Intent.link, lang, w) for lang, words in LINK_BY_LANGUAGE.items() for w in words),
])
def test_done_and_link_words_in_every_language(intent, language, word):
    for typed in _variants(word):
        assert intent_of(typed) is intent, typed
        assert intent_of(f"{typed} SOL-7K3Q9X") is intent, typed  # with something after it


def test_arabic_harakat_and_tatweel_are_folded():
    assert intent_of("أَنْجَزْتُ") is Intent.done
    assert intent_of("نفّذت") is Intent.done
    assert intent_of("رابـــط") is Intent.link


@pytest.mark.parametrize("body", ["تم", "تم!", "تم SOL-7K3Q9X", "تم الاستلام", "تمّ"])
def test_tamma_alone_is_still_ack(body):
    assert intent_of(body) is Intent.ack


@pytest.mark.parametrize("body", ["تم التنفيذ", "تم التنفيذ SOL-7K3Q9X", "تمّ التنفيذ", "تم التنفيذ، كتبنا للسفارة"])
def test_tamma_al_tanfidh_is_done(body):
    assert intent_of(body) is Intent.done


@pytest.mark.parametrize("body,intent", [
    ("STOP done", Intent.stop), ("stop link", Intent.stop), ("done stop", Intent.done), ("link", Intent.link),
    ("linked", Intent.unknown), ("done?", Intent.done), ("undone", Intent.unknown), ("faite", Intent.unknown),
    ("ACK", Intent.ack), ("ok", Intent.ack), ("bien reçu", Intent.ack), ("ESC", Intent.esc),
])
def test_priority_and_near_misses(body, intent):
    assert intent_of(body) is intent


def test_every_intent_is_tried_once_and_stop_first():
    assert ORDER[0] is Intent.stop
    assert sorted(ORDER) == sorted(set(Intent) - {Intent.unknown})


def test_no_word_belongs_to_two_intents():
    folded = {intent: {_fold(w) for w in words} for intent, words in KEYWORDS.items()}
    for (a, wa), (b, wb) in itertools.combinations(folded.items(), 2):
        assert not wa & wb, (a, b, wa & wb)


@pytest.mark.parametrize("intent,word", [(i, w) for i, words in KEYWORDS.items() for w in sorted(words)])
def test_every_keyword_means_its_intent_alone_and_at_the_head_of_a_reply(intent, word):
    # Catches a two-word keyword whose first word is another intent's keyword tried earlier.
    assert intent_of(word) is intent
    assert intent_of(f"{word} SOL-7K3Q9X") is intent
    assert intent_of(word.upper()) is intent


@pytest.mark.parametrize("language", ["en", "es", "fr", "pt", "ar"])
def test_each_language_has_a_done_word_the_keywords_know(language):
    word = done_word(language)
    assert word == DONE_WORDS[language] and intent_of(word) is Intent.done
    assert _fold(word) in {_fold(w) for w in KEYWORDS[Intent.done]}
    assert sign_word(language) == SIGN_WORDS[language]


def test_done_word_falls_back_to_english():
    assert done_word("sw") == "DONE" and done_word("") == "DONE"


@pytest.mark.parametrize("body,note", [
    ("DONE wrote to the embassy", "wrote to the embassy"),
    ("done   Wrote to the Embassy  ", "Wrote to the Embassy"),
    ("DONE: called the ministry", "called the ministry"),
    ("DONE - called the ministry", "called the ministry"),
    ("Done, tweeted", "tweeted"),
    ("¡Hecho! Escribí a la embajada", "Escribí a la embajada"),
    ("EFFECTUÉ lettre envoyée à l'ambassade", "lettre envoyée à l'ambassade"),
    ("effectue Lettre Envoyée", "Lettre Envoyée"),
    ("FEITO, enviámos a carta", "enviámos a carta"),
    ("أنجزت كتبنا إلى السفارة", "كتبنا إلى السفارة"),
    ("تم التنفيذ كتبنا إلى السفارة", "كتبنا إلى السفارة"),
    ("DONE\nline one\nline two", "line one\nline two"),
    ("DONE SOL-7K3Q9X", "SOL-7K3Q9X"),
    ("DONE", None), ("done.", None), ("DONE   ", None), ("DONE !!", None), ("تم التنفيذ", None),
    ("", None), ("wrote to the embassy", None), ("STOP done", None), ("SIGN done", None), ("تم كتبنا", None),
    ("LINK please", None),
])
def test_done_note(body, note):
    assert done_note(body) == note


def test_done_note_is_capped():
    note = done_note("DONE " + "x" * 2000)
    assert note == "x" * NOTE_MAX
    assert len(done_note("DONE " + "a " * 400)) <= NOTE_MAX
    assert not done_note("DONE " + "y" * (NOTE_MAX - 1) + " " + "z").endswith(" ")
