"""Imminence: phrases saying the harm is now or within hours, in en, es, fr, ar and pt, and what must not fire."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.imminence import (
    DEFAULT_PATH,
    ImminenceDataError,
    find_imminence,
    fold_text,
    fold_with_offsets,
    load_phrasebook,
    says_imminent,
)

# (text, phrase found as written in the text)
POSITIVE = {
    "en": [
        ("They are surrounding the community right now.", "right now"),
        ("Soldiers are inside the house as we speak.", "as we speak"),
        ("The bulldozers will come TONIGHT.", "TONIGHT"),
        ("He will be transferred in the next few hours.", "in the next few hours"),
        ("Families are being evicted from the riverbank.", "being evicted"),
        ("At this moment the police are beating the protesters.", "At this moment"),
        ("The eviction is under way, please act.", "under way"),
        ("An attack on the village is imminent.", "imminent"),
    ],
    "es": [
        ("La policía está entrando ahora mismo a la comunidad.", "ahora mismo"),
        ("Van a desalojar a las familias esta noche.", "esta noche"),
        ("EN ESTE MOMENTO lo están golpeando.", "EN ESTE MOMENTO"),
        ("En estos momentos rodean la casa.", "En estos momentos"),
        ("Será trasladado en las próximas horas.", "en las próximas horas"),
        ("Las familias están siendo desalojadas por la fuerza.", "siendo desalojadas"),
        ("Lo van a detener en las proximas horas, sin tilde.", "en las proximas horas"),
    ],
    "fr": [
        ("La police encercle le village maintenant.", "maintenant"),
        ("Ils vont l'arrêter ce soir.", "ce soir"),
        ("Il sera transféré dans les prochaines heures.", "dans les prochaines heures"),
        ("En ce moment, des hommes armés sont devant sa porte.", "En ce moment"),
        ("Les bulldozers sont en train de détruire les maisons.", "sont en train de"),
        ("Une attaque est imminente contre la radio.", "imminente"),
        ("Ils arrivent d’un moment à l’autre.", "d’un moment à l’autre"),
    ],
    "ar": [
        ("الشرطة تحاصر المنزل الآن", "الآن"),
        ("سيتم اعتقاله الليلة", "الليلة"),
        ("المدافع محتجز حالياً في مكان مجهول", "حالياً"),
        ("سيتم ترحيله خلال ساعات", "خلال ساعات"),
        ("في هذه اللحظة يتعرض للضرب", "في هذه اللحظة"),
        ("الهجوم وشيك على القرية", "وشيك"),
        ("والآن يحاصرون القرية", "الآن"),
        ("سيتم الإخلاء في الساعات القادمة", "في الساعات القادمة"),
    ],
    "pt": [
        ("A polícia está cercando a aldeia agora.", "agora"),
        ("Vão despejar as famílias hoje à noite.", "hoje à noite"),
        ("Neste momento ele está sendo espancado.", "Neste momento"),
        ("Vão prendê-lo esta noite.", "esta noite"),
        ("Ele será transferido nas próximas horas.", "nas próximas horas"),
        ("As famílias estão sendo despejadas.", "sendo despejadas"),
        ("Vao invadir hoje a noite, sem acento.", "hoje a noite"),
    ],
}

NEGATIVE = {
    "en": [
        "He was beaten last night by the police.",
        "The trial will resume next month.",
        "Her house was raided two years ago.",
        "The community was displaced last week and now lives nowhere near the river.",
        "At the moment of his arrest in 2019 he was not told why.",
        "Tonightly is not a word, and nowhere is not now.",
    ],
    "es": [
        "Lo golpearon anoche frente a su casa.",
        "La audiencia es la semana pasada y la próxima el mes que viene.",
        "Fue detenido hace dos años en Tegucigalpa.",
        "El año pasado recibió amenazas por teléfono.",
        "Ahora vive en otra ciudad desde 2020.",
    ],
    "fr": [
        "Il a été arrêté l'année dernière.",
        "Les menaces ont commencé il y a deux ans.",
        "Hier soir la police a fouillé le local.",
        "Jusqu'à maintenant, personne n'a été inquiété.",
        "L'audience aura lieu le mois prochain.",
    ],
    "ar": [
        "تم اعتقاله الشهر الماضي",
        "تعرض للضرب الليلة الماضية",
        "تلقى تهديدات قبل عامين",
        "لم يتم التحقيق حتى الآن",
        "الآنسة مريم محامية في المدينة",
    ],
    "pt": [
        "Ele foi preso no ano passado.",
        "As ameaças começaram há dois anos.",
        "Ontem à noite invadiram a sede.",
        "Até agora ninguém foi responsabilizado.",
        "A agorafobia não é o assunto deste relatório.",
    ],
}


@pytest.mark.parametrize(
    ("text", "found"),
    [pair for pairs in POSITIVE.values() for pair in pairs],
    ids=[f"{lang}-{i}" for lang, pairs in POSITIVE.items() for i in range(len(pairs))],
)
def test_positive(text: str, found: str) -> None:
    hit = find_imminence(text)
    assert hit is not None
    assert hit.found == found
    assert text[hit.start:].startswith(found)


@pytest.mark.parametrize(
    "text",
    [t for texts in NEGATIVE.values() for t in texts],
    ids=[f"{lang}-{i}" for lang, texts in NEGATIVE.items() for i in range(len(texts))],
)
def test_negative(text: str) -> None:
    assert find_imminence(text) is None
    assert not says_imminent(text)


def test_enough_examples_per_language() -> None:
    for language in ("en", "es", "fr", "ar", "pt"):
        assert len(POSITIVE[language]) >= 5 and len(NEGATIVE[language]) >= 3
        assert language in load_phrasebook().languages


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("ahora mismo", "es"), ("ce soir", "fr"), ("esta noite", "pt"), ("right now", "en"), ("الليلة", "ar"),
    ],
)
def test_hit_names_its_language(text: str, language: str) -> None:
    hit = find_imminence(f"Ellos dicen: {text}.")
    assert hit is not None and hit.language == language


@pytest.mark.parametrize(
    "text",
    [
        "الان يحاصرون المنزل",        # alef without madda
        "الآنَ يحاصرون المنزل",       # with a fatha
        "الليـــلة سيهاجمون",         # with tatweel
        "سيهاجمون الليله",            # ta marbuta written as ha
        "حاليا محتجز",                # without tanween
    ],
)
def test_arabic_spelling_variants(text: str) -> None:
    assert says_imminent(text)


def test_first_phrase_in_text_wins() -> None:
    hit = find_imminence("Esta noche, not right now.")
    assert hit is not None and hit.phrase == "esta noche"


def test_fold_text() -> None:
    assert fold_text("  Hoje À  Noite\n") == "hoje a noite"
    assert fold_text("أحمد إبراهيم آل") == "احمد ابراهيم ال"
    assert fold_text("Après-midi") == "apres midi"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("languages: {}", "languages"),
        ("languages: {en: {phrases: []}}", "languages.en.phrases"),
        ("languages: {en: {phrases: [now], unless: [x]}}", "languages.en.unless"),
        ("languages: [", "cannot read"),
    ],
)
def test_bad_phrasebook_is_a_clear_error(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "imminence.yaml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ImminenceDataError, match=message):
        load_phrasebook(path)


def test_custom_phrasebook(tmp_path: Path) -> None:
    path = tmp_path / "imminence.yaml"
    path.write_text("languages: {sw: {phrases: [sasa hivi]}}", encoding="utf-8")
    book = load_phrasebook(path)
    assert book.find("Polisi wanakuja sasa hivi") is not None
    assert book.find("right now") is None


# --- The quick paths (ASCII folding, the any-phrase pre-scan) must not change a single answer. ---

_WORDS = st.sampled_from(
    [p for entry in yaml.safe_load(DEFAULT_PATH.read_text(encoding="utf-8"))["languages"].values()
     for p in [*entry["phrases"], *entry.get("except", []), *entry.get("prefixes", [])]]
    + ["the", "police", "casa", "maison", "Élodie", "NOW", "to-night", "lá", "\u0627\u0644", "x"]
)
_GLUE = st.sampled_from([" ", "  ", "-", "\n", "\t", ", ", ".", "", "\u2019", "\x1c", "\u00a0"])
_TEXTS = st.lists(st.tuples(_WORDS, _GLUE), max_size=8).map(lambda parts: "".join(w + g for w, g in parts))


def _reference_find(book, text: str):
    """The plain algorithm: every phrase's regex over the fully folded text, no pre-scan."""
    folded, _ = fold_with_offsets(text)
    excluded = {lang: [m.span() for rx in rxs for m in rx.finditer(folded)] for lang, rxs in book._exceptions.items()}
    best = None
    for pattern in book._patterns:
        for match in pattern.regex.finditer(folded):
            start, end = match.span(1)
            if any(s <= start and end <= e for s, e in excluded[pattern.language]):
                continue
            if best is None or (start, -(end - start)) < (best[0], -(best[1] - best[0])):
                best = (start, end, pattern.phrase)
            break
    return None if best is None else best[2]


@settings(max_examples=400, deadline=None)
@given(text=_TEXTS | st.text(max_size=80))
def test_quick_paths_give_the_same_answer_as_the_plain_scan(text: str) -> None:
    book = load_phrasebook()
    hit = book.find(text)
    assert (hit.phrase if hit else None) == _reference_find(book, text)
    assert fold_text(text) == fold_with_offsets(text)[0]
