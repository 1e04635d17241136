"""Does a description say the harm is happening now or within hours? Phrases per language are data.

The phrasebook is agents/data/imminence.yaml. Text and phrases are folded the same way (case, accents,
Arabic letter variants) and phrases only match whole words, so "tonight" fires but "last night" does not.
An exception ("not imminent", "last night") cancels the phrases inside it whichever language lists them, since
the same words can be a phrase of two languages ("imminent" is English and French).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

DEFAULT_PATH = Path(__file__).parent / "data" / "imminence.yaml"

# Arabic spelling variants that writers use interchangeably (alef wasla, alef maqsura, ta marbuta), the
# tatweel used only for stretching, and typographic apostrophes and dashes.
_VARIANTS = str.maketrans({
    "\u0671": "\u0627",
    "\u0649": "\u064a",
    "\u0629": "\u0647",
    "\u0640": None,
    "\u2019": "'",
    "\u2018": "'",
    "\u02bc": "'",
    "-": " ",
    "\u2010": " ",
    "\u2011": " ",
    "\u2013": " ",
    "\u2014": " ",
})


class ImminenceDataError(ValueError):
    """The imminence phrasebook file is missing or malformed."""


@lru_cache(maxsize=8192)
def _fold_char(ch: str) -> str:
    # casefold before NFKD so that e.g. a dotted capital I loses its dot with the other marks.
    decomposed = unicodedata.normalize("NFKD", ch.casefold())
    kept = "".join(c for c in decomposed if unicodedata.category(c) != "Mn")
    return kept.translate(_VARIANTS)


def fold_with_offsets(text: str) -> tuple[str, list[int]]:
    """Fold text (see fold_text) and give, for each folded character, its index in the original."""
    out: list[str] = []
    offsets: list[int] = []
    for index, ch in enumerate(text):
        for folded in _fold_char(ch):
            if folded.isspace():
                if not out or out[-1] == " ":
                    continue
                folded = " "
            out.append(folded)
            offsets.append(index)
    while out and out[-1] == " ":
        out.pop()
        offsets.pop()
    return "".join(out), offsets


_ASCII_SPACES = re.compile(r"[\s\-]+")


def fold_text(text: str) -> str:
    """Lower-case, strip accents and Arabic diacritics, unify Arabic letter variants, collapse spaces."""
    if text.isascii():
        # The same result without the per-character walk: ASCII only lower-cases and turns '-' into a space.
        return _ASCII_SPACES.sub(" ", text.lower()).strip(" ")
    return fold_with_offsets(text)[0]


class LanguagePhrases(BaseModel):
    """The phrases of one language in the phrasebook file."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    phrases: list[str] = Field(min_length=1)
    exceptions: list[str] = Field(default_factory=list, alias="except")
    prefixes: list[str] = Field(default_factory=list)

    @field_validator("phrases", "exceptions", "prefixes")
    @classmethod
    def _not_blank(cls, values: list[str]) -> list[str]:
        for value in values:
            if not isinstance(value, str) or not fold_text(value).strip(" *"):
                raise ValueError(f"blank phrase {value!r}")
        return values


class PhrasebookFile(BaseModel):
    """The whole imminence.yaml document."""

    model_config = ConfigDict(extra="forbid")

    languages: dict[str, LanguagePhrases] = Field(min_length=1)


@dataclass(frozen=True)
class ImminenceHit:
    """Where a description says the harm is now or within hours."""

    phrase: str
    language: str
    found: str
    start: int


@dataclass(frozen=True)
class _Pattern:
    phrase: str
    language: str
    regex: re.Pattern[str]
    literal: str


def _literal(phrase: str) -> str:
    """The folded words a phrase's match must contain verbatim (the part before any wildcard)."""
    return fold_text(phrase).rstrip("*")


def _compile(phrase: str, prefixes: list[str]) -> re.Pattern[str]:
    folded = fold_text(phrase)
    wildcard = folded.endswith("*")
    words = [re.escape(w) for w in folded.rstrip("*").split(" ")]
    body = " ".join(words) + (r"\w*" if wildcard else "")
    prefix = "(?:" + "|".join(re.escape(fold_text(p)) for p in prefixes) + ")?" if prefixes else ""
    # Whole words only: nothing word-like may touch the phrase on either side.
    return re.compile(rf"(?<!\w){prefix}({body})(?!\w)")


def _any_of(literals: set[str]) -> re.Pattern[str]:
    """A regex matching exactly the given strings, factored by common prefixes.

    Python tries a plain alternation's branches one by one at every position of the text; factored, each
    position costs one step per character shared, which keeps the pre-scan cheap as the phrasebook grows.
    """
    trie: dict[str, dict] = {}
    for literal in literals:
        node = trie
        for ch in literal:
            node = node.setdefault(ch, {})
        node[""] = {}

    def build(node: dict[str, dict]) -> str:
        branches = [re.escape(ch) + build(child) for ch, child in sorted(node.items()) if ch]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return f"(?:{body})?" if "" in node else body

    return re.compile(build(trie))


class Phrasebook:
    """Compiled phrases of every language; find() looks for all of them in any text."""

    def __init__(self, data: PhrasebookFile) -> None:
        self._patterns: list[_Pattern] = []
        exceptions: list[re.Pattern[str]] = []
        exception_literals: list[str] = []
        for language, entry in data.languages.items():
            for phrase in entry.phrases:
                self._patterns.append(_Pattern(phrase, language, _compile(phrase, entry.prefixes), _literal(phrase)))
            exceptions.extend(_compile(p, entry.prefixes) for p in entry.exceptions)
            exception_literals.extend(_literal(p) for p in entry.exceptions)
        # Every language's exceptions cancel every language's phrases: "not imminent" (English) must cancel the
        # French phrase "imminent" too. Each exception runs only when its literal words are in the text.
        self._exception_scan = list(zip(exception_literals, exceptions))
        self._exceptions: dict[str, list[re.Pattern[str]]] = {language: exceptions for language in data.languages}
        # Every match contains its phrase's literal words, so one scan for any literal rules most texts out
        # before the per-phrase regexes run (they cost a fifth of intake when run on every report).
        self._any_literal = _any_of({p.literal for p in self._patterns})

    @property
    def languages(self) -> list[str]:
        """Languages in the phrasebook."""
        return list(self._exceptions)

    def find(self, text: str) -> ImminenceHit | None:
        """The first (then longest) phrase in the text that speaks of now or the next hours, if any."""
        if not self._any_literal.search(fold_text(text)):
            return None
        folded, offsets = fold_with_offsets(text)
        excluded: list[tuple[int, int]] | None = None  # found once a phrase matches
        best: tuple[int, int, _Pattern] | None = None
        for pattern in self._patterns:
            if pattern.literal not in folded:
                continue
            for match in pattern.regex.finditer(folded):
                start, end = match.span(1)
                if excluded is None:
                    excluded = [m.span() for lit, rx in self._exception_scan if lit in folded
                                for m in rx.finditer(folded)]
                if any(s <= start and end <= e for s, e in excluded):
                    continue
                if best is None or (start, -(end - start)) < (best[0], -(best[1] - best[0])):
                    best = (start, end, pattern)
                break
        if best is None:
            return None
        start, end, pattern = best
        stop = offsets[end - 1] + 1
        # Folding dropped the marks that follow the last letter (e.g. Arabic tanween); quote them too.
        while stop < len(text) and not _fold_char(text[stop]):
            stop += 1
        original = text[offsets[start]:stop]
        return ImminenceHit(pattern.phrase, pattern.language, " ".join(original.split()), offsets[start])


@lru_cache(maxsize=8)
def load_phrasebook(path: Path | None = None) -> Phrasebook:
    """Load and compile the phrasebook once per path (the packaged file by default)."""
    path = Path(path) if path else DEFAULT_PATH
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ImminenceDataError(f"{path}: cannot read phrasebook: {exc}") from exc
    try:
        return Phrasebook(PhrasebookFile.model_validate(raw))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors(include_url=False)
        )
        raise ImminenceDataError(f"{path}: {problems}") from None


def find_imminence(text: str) -> ImminenceHit | None:
    """The phrase saying the harm is now or within hours, in any of the network's languages, or None."""
    return load_phrasebook().find(text)


def says_imminent(text: str) -> bool:
    """Whether the text says the harm is happening now or within hours."""
    return find_imminence(text) is not None
