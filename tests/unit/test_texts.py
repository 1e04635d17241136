"""Texts are data: `{name}` placeholders from a fixed set, substituted from a dict of strings, nothing evaluated."""

import pytest
import yaml

from agents.keywords import KEYWORDS, SIGN_WORDS, Intent, intent_of
from agents.texts import (ACTION_PLACEHOLDERS, CATALOGUE_PLACEHOLDERS, DATA, MEMBER_LINK_PLACEHOLDERS, PLACEHOLDERS, allowed_list,
                         fill, problems_in, render)

VALUES = {"reference": "SOL-ABC123", "country": "Côte d'Ivoire", "deadline": "2030-01-31", "sign_word": "SIGNE",
          "incident": "détention arbitraire", "urgency": "HIGH"}


@pytest.mark.parametrize("text,expected", [
    ("Solidarity {reference}: reply {sign_word}.", "Solidarity SOL-ABC123: reply SIGNE."),
    ("{country} avant le {deadline}", "Côte d'Ivoire avant le 2030-01-31"),
    ("{urgency} {incident}", "HIGH détention arbitraire"),
    ("Appel à l'action : l'organisation signe.", "Appel à l'action : l'organisation signe."),
    ("Responda ASSINO até amanhã, d'acordo.", "Responda ASSINO até amanhã, d'acordo."),
    ("تضامن {reference}: أرسل {sign_word} للتوقيع.",
     "تضامن SOL-ABC123: أرسل SIGNE للتوقيع."),
    ("  50% des voix, \"guillemets\" & <balises>  ", "50% des voix, \"guillemets\" & <balises>"),
    ("{reference}{reference}", "SOL-ABC123SOL-ABC123"),
])
def test_known_placeholders_are_substituted_and_the_rest_is_literal(text, expected):
    assert problems_in(text, VALUES) == []
    assert fill(text, VALUES) == expected


def test_a_value_is_never_substituted_again():
    assert fill("{reference}", {"reference": "{country}", "country": "X"}) == "{country}"


@pytest.mark.parametrize("text,needle", [
    ("Firma {nombre} hoy", "unknown placeholder {nombre}"),
    ("Link: {link}", "unknown placeholder {link}"),  # the dashboard link is for on-call alerts only
    ("Empty {} braces", "unknown placeholder {}"),
    ("{Reference}", "unknown placeholder {Reference}"),
    ("Unbalanced {reference", "'{' at character 12"),
    ("Unbalanced reference}", "'}' at character 21"),
    ("{{ 7*7 }}", "template syntax"),
    ("pid {{ cycler.__init__.__globals__.os.getpid() }}", "'{' at character 5 is outside a {name} placeholder"),
    ("{% for x in range(3) %}x{% endfor %}", "template syntax"),
    ("{{reference}}", "'{' at character 1"),
    ("{reference.__class__}", "template syntax"),
    ("{reference!r}", "template syntax"),
])
def test_anything_but_a_known_placeholder_is_refused(text, needle):
    found = problems_in(text, VALUES)
    assert found and any(needle in p for p in found), found


@pytest.mark.parametrize("payload", [
    "{{ 7*7 }}", "{{7*7}}", "pid {{ cycler.__init__.__globals__.os.getpid() }}",
    "{% for x in [1] %}{{ 7*7 }}{% endfor %}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}", "${7*7}", "#{7*7}", "{7*7}",
])
def test_template_payloads_are_left_literal_never_evaluated(payload):
    out = fill(payload, VALUES)
    assert out == payload.strip()
    assert "49" not in out and "<class" not in out


def test_a_placeholder_without_a_value_is_refused():
    assert problems_in("Antes del {deadline}", VALUES | {"deadline": None}) == [
        "{deadline} has no value for this action (set a deadline)"]


def test_the_placeholder_set_is_fixed_and_explicit():
    assert PLACEHOLDERS == {"reference", "deadline", "country", "sign_word", "done_word", "incident", "urgency", "link"}
    assert ACTION_PLACEHOLDERS == PLACEHOLDERS - {"link"}
    assert allowed_list() == "{country}, {deadline}, {done_word}, {incident}, {reference}, {sign_word}, {urgency}"


def _texts(node, path=""):
    if isinstance(node, str):
        yield path, node
    else:
        for key, child in node.items():
            yield from _texts(child, f"{path}.{key}" if path else key)


@pytest.mark.parametrize("path,text", list(_texts(yaml.safe_load(DATA.read_text(encoding="utf-8")))))
def test_every_catalogue_text_is_plain_text_with_known_placeholders(path, text):
    # Secretariat pages may carry the dashboard link and name who acknowledged; members' texts neither.
    # Members' link lines carry their own signed link ({url}, {days}), never the dashboard's ({link}).
    allowed = (CATALOGUE_PLACEHOLDERS if path.startswith("paging") else PLACEHOLDERS if path.startswith("alert")
               else MEMBER_LINK_PLACEHOLDERS if path.startswith(("links.", "replies.link")) else ACTION_PLACEHOLDERS)
    assert problems_in(text, allowed=allowed) == [], path


@pytest.mark.parametrize("language,word", sorted(SIGN_WORDS.items()))
def test_each_sign_word_is_understood_as_a_signature(language, word):
    assert word.lower() in KEYWORDS[Intent.sign] and intent_of(word) is Intent.sign
    assert word in render("actions.petition", language, **VALUES | {"sign_word": word})
