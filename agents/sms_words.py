"""The words and texts of SMS report intake, per language (data/sms_intake.yaml), and the lookups made on them.

Everything is matched folded (agents.imminence.fold_text) with punctuation dropped, word by word, longest
keyword first. Country names come from pycountry's ISO 3166 translations plus the file's aliases.
"""

from __future__ import annotations

import gettext
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import pycountry
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from agents.imminence import fold_text
from schemas.vocab import Consent, IncidentType

DEFAULT_PATH = Path(__file__).parent / "data" / "sms_intake.yaml"
REQUIRED_LANGUAGES = ("en", "es", "fr", "pt", "ar")
FALLBACK = "en"

# The placeholders each text must carry, exactly; substitution replaces these names with plain strings.
PLACEHOLDERS: dict[str, frozenset[str]] = {name: frozenset(names) for name, names in {
    "ask_incident_type": {"menu"}, "ask_country": set(), "ask_description": set(), "ask_consent": set(),
    "hint_incident_type": {"last"}, "hint_country": set(), "hint_description": set(), "hint_consent": set(),
    "cancelled": {"alert"}, "abandoned": {"alert"}, "expired": {"alert", "minutes"},
    "received": {"reference", "status"}, "status_received": {"reference"}, "status_verified": {"reference"},
    "status_action": {"reference"}, "status_closed": {"reference"}, "unknown_reference": {"reference"},
}.items()}

# pycountry ships Brazilian Portuguese apart from European Portuguese.
_LOCALES = {"pt": ("pt", "pt_BR")}
_TOKEN = re.compile(r"\{(\w*)\}|[{}]")
_PUNCTUATION = re.compile(r"[^\w ]+")
_ARTICLE = "ال"


class SmsIntakeDataError(ValueError):
    """The SMS intake data file is missing or malformed."""


def word_key(text: str) -> str:
    """The form words are compared in: folded, punctuation dropped, single spaces."""
    return " ".join(_PUNCTUATION.sub(" ", fold_text(text)).split())


def _variants(key: str) -> Iterator[str]:
    # Arabic writers add or drop the definite article: "البيرو" and "بيرو" are one country.
    if key and "\u0600" <= key[0] <= "\u06ff":
        yield key[2:] if key.startswith(_ARTICLE) and len(key) > 4 else _ARTICLE + key


class LanguageWords(BaseModel):
    """The keywords, menu labels and texts of one language."""

    model_config = ConfigDict(extra="forbid")

    short_words: list[str] = Field(default_factory=list)
    alert: list[str] = Field(min_length=1)
    cancel: list[str] = Field(min_length=1)
    status: list[str] = Field(min_length=1)
    consent: dict[Consent, list[str]]
    incidents: dict[IncidentType, list[str]]
    labels: dict[IncidentType, str]
    texts: dict[str, str]

    @field_validator("alert", "cancel", "status")
    @classmethod
    def _single_words(cls, words: list[str]) -> list[str]:
        for word in words:
            if len(word_key(word).split()) != 1:
                raise ValueError(f"{word!r} must be one word")
        return words

    @field_validator("consent", "incidents")
    @classmethod
    def _complete(cls, table: dict[Any, list[str]], info: Any) -> dict[Any, list[str]]:
        kind = Consent if info.field_name == "consent" else IncidentType
        missing = sorted(set(kind) - set(table))
        if missing:
            raise ValueError(f"no words for {', '.join(missing)}")
        for words in table.values():
            if not words or any(not word_key(w) for w in words):
                raise ValueError("every entry needs words, none blank")
        return table

    @field_validator("texts")
    @classmethod
    def _texts(cls, texts: dict[str, str]) -> dict[str, str]:
        missing, unknown = sorted(set(PLACEHOLDERS) - set(texts)), sorted(set(texts) - set(PLACEHOLDERS))
        if missing or unknown:
            raise ValueError(f"missing texts {missing}, unknown texts {unknown}")
        for name, text in texts.items():
            found = {m.group(1) for m in _TOKEN.finditer(text)}
            if found != PLACEHOLDERS[name] or not text.strip():
                expected = sorted(PLACEHOLDERS[name])
                raise ValueError(f"{name}: placeholders {sorted(found, key=str)}, expected {expected}")
        return texts


class SmsIntakeFile(BaseModel):
    """The whole sms_intake.yaml document."""

    model_config = ConfigDict(extra="forbid")

    menu: list[IncidentType] = Field(min_length=2, max_length=9)
    country_aliases: dict[str, list[str]] = Field(default_factory=dict)
    languages: dict[str, LanguageWords]

    @model_validator(mode="after")
    def _consistent(self) -> "SmsIntakeFile":
        missing = [lang for lang in REQUIRED_LANGUAGES if lang not in self.languages]
        if missing:
            raise ValueError(f"languages missing: {', '.join(missing)}")
        if len(set(self.menu)) != len(self.menu):
            raise ValueError("menu lists a type twice")
        for code in self.country_aliases:
            if pycountry.countries.get(alpha_2=code) is None:
                raise ValueError(f"country_aliases: {code} is not an ISO 3166-1 alpha-2 code")
        for lang, words in self.languages.items():
            if set(self.menu) - set(words.labels):
                raise ValueError(f"{lang}: labels must name every menu type")
        for table in ("incidents", "consent"):
            meaning: dict[str, Any] = {}
            for lang, words in self.languages.items():
                for value, keywords in getattr(words, table).items():
                    for keyword in keywords:
                        if meaning.setdefault(word_key(keyword), value) != value:
                            raise ValueError(f"{lang}: {keyword!r} means both {meaning[word_key(keyword)]} and {value}")
        commands = [{word_key(w) for words in self.languages.values() for w in getattr(words, kind)}
                    for kind in ("alert", "cancel", "status")]
        if commands[0] & commands[1] or commands[0] & commands[2] or commands[1] & commands[2]:
            raise ValueError("an alert, cancel or status word is used for two of them")
        return self


@dataclass(frozen=True)
class Match:
    """A keyword found at a position: what it means, the languages it belongs to, how many words it took."""

    value: Any
    languages: tuple[str, ...]
    size: int


class PhraseIndex:
    """Folded phrases -> meaning and languages, looked up longest phrase first; written forms beat variants."""

    def __init__(self) -> None:
        self.entries: dict[str, tuple[Any, tuple[str, ...]]] = {}
        self.derived: dict[str, tuple[Any, tuple[str, ...]]] = {}
        self.longest = 1

    def add(self, phrase: str, value: Any, language: str, variants: bool = True) -> None:
        key = word_key(phrase)
        self._put(self.entries, key, value, language)
        for variant in _variants(key) if variants else ():
            self._put(self.derived, variant, value, language)
        self.longest = max(self.longest, len(key.split()))

    @staticmethod
    def _put(table: dict[str, tuple[Any, tuple[str, ...]]], key: str, value: Any, language: str) -> None:
        old, langs = table.get(key, (value, ()))
        if old == value and language not in langs:
            table[key] = (value, (*langs, language))

    def at(self, keys: list[str], start: int) -> Match | None:
        for size in range(min(self.longest, len(keys) - start), 0, -1):
            phrase = " ".join(keys[start:start + size])
            found = self.entries.get(phrase) or self.derived.get(phrase)
            if found:
                return Match(found[0], found[1], size)
        return None


def _country_index(aliases: dict[str, list[str]], languages: Iterable[str]) -> PhraseIndex:
    """Every country name in every language (aliases first, then full names, then short forms) -> code."""
    translators: list[gettext.NullTranslations] = [gettext.NullTranslations()]
    for lang in languages:
        for locale in _LOCALES.get(lang, (lang,)):
            try:
                translators.append(gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=[locale]))
            except OSError:
                continue
    levels: list[dict[str, set[str]]] = [defaultdict(set) for _ in range(3)]
    for code, names in aliases.items():
        for name in names:
            levels[0][word_key(name)].add(code)
    for country in pycountry.countries:
        english = {getattr(country, a, None) for a in ("name", "common_name", "official_name")} - {None}
        for tr in translators:
            for local in {tr.gettext(name) for name in english}:
                key = word_key(local)
                levels[1][key].add(country.alpha_2)
                # "Congo, República Democrática del" is also written "Congo"; "البيرو" also "بيرو".
                for short in {word_key(re.split("[,،(]", local)[0]), *_variants(key)} - {key}:
                    levels[2][short].add(country.alpha_2)
    index, blocked = PhraseIndex(), set()
    for level in levels:
        for key, codes in level.items():
            if key in index.entries or key in blocked:
                continue
            if len(codes) == 1:
                index.entries[key] = (next(iter(codes)), ())
                index.longest = max(index.longest, len(key.split()))
            else:
                blocked.add(key)  # a name two countries share names neither
    return index


class Vocabulary:
    """The compiled data file: keyword lookups and texts."""

    def __init__(self, data: SmsIntakeFile) -> None:
        self.menu = list(data.menu)
        self.languages = list(data.languages)
        self._words = data.languages
        self.alert, self.cancel, self.status = PhraseIndex(), PhraseIndex(), PhraseIndex()
        self.incidents, self.consent = PhraseIndex(), PhraseIndex()
        for lang, words in data.languages.items():
            for kind in ("alert", "cancel", "status"):
                for word in getattr(words, kind):
                    getattr(self, kind).add(word, kind, lang, variants=False)
            for value, keywords in words.incidents.items():
                for keyword in [*keywords, *([words.labels[value]] if value in words.labels else [])]:
                    self.incidents.add(keyword, value, lang)
            for value, keywords in words.consent.items():
                for keyword in keywords:
                    self.consent.add(keyword, value, lang)
        self.countries = _country_index(data.country_aliases, self.languages)
        self.short_words = {word_key(w) for words in data.languages.values() for w in words.short_words}

    def country_at(self, keys: list[str], words: list[str], start: int, anchored: bool, shouting: bool) -> Match | None:
        """A country name at `start`, else a 2-letter code written so that it cannot be an everyday word.

        Where a country must be (`anchored`: right after the incident, or a one-word answer) any case will do,
        except for short words such as "de" or "no", which must then be in capitals; anywhere else the code must
        be in capitals. In a message all in capitals (`shouting`) capitals tell nothing.
        """
        found = self.countries.at(keys, start)
        if found or start >= len(keys) or len(keys[start]) != 2 or not keys[start].isascii():
            return found
        capitals = words[start].strip(".,;:!?").isupper() and not shouting
        if not (capitals or (anchored and keys[start] not in self.short_words)):
            return None
        country = pycountry.countries.get(alpha_2=keys[start].upper())
        return Match(country.alpha_2, (), 1) if country is not None else None

    def _language(self, language: str) -> LanguageWords:
        return self._words.get(language) or self._words[FALLBACK]

    def first_word(self, kind: str, language: str) -> str:
        """The word the texts of `language` tell people to send for `kind` (alert, cancel, status)."""
        return getattr(self._language(language), kind)[0]

    def text(self, name: str, language: str, **values: Any) -> str:
        """Text `name` in `language` (English if the language is unknown) with its placeholders replaced."""
        text = self._language(language).texts[name]
        return _TOKEN.sub(lambda m: str(values[m.group(1)]) if m.group(1) in values else m.group(0), text)

    def menu_text(self, language: str) -> str:
        """The numbered incident menu in `language`, one type a line."""
        labels = self._language(language).labels
        return "\n".join(f"{n} {labels[kind]}" for n, kind in enumerate(self.menu, start=1))


@lru_cache(maxsize=8)
def load_vocabulary(path: Path | None = None) -> Vocabulary:
    """Load, validate and compile the SMS intake data once per path (the packaged file by default)."""
    path = Path(path) if path else DEFAULT_PATH
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise SmsIntakeDataError(f"{path}: cannot read: {exc}") from exc
    try:
        return Vocabulary(SmsIntakeFile.model_validate(raw))
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors(include_url=False))
        raise SmsIntakeDataError(f"{path}: {problems}") from None
