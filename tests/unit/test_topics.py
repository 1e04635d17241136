"""The topic catalogue: every topic states its retention, and the README's table says the same."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams import topics
from streams.topics import CATALOGUE, DAY_MS, FOREVER, TopicSpec, markdown_table

README = Path(__file__).resolve().parent.parent.parent / "README.md"


def readme_table() -> str:
    text = README.read_text(encoding="utf-8")
    begin, end = text.index("<!-- topics:begin"), text.index("<!-- topics:end -->")
    return text[begin:end].split("\n", 1)[1].strip()


def test_readme_table_is_the_catalogue():
    assert readme_table() == markdown_table(), "regenerate the README table: python -m streams.topics"


def test_readme_lists_every_topic_with_its_retention():
    rows = {}
    for line in readme_table().splitlines()[2:]:
        cells = [c.strip() for c in line.replace("\\|", "¦").strip("|").split("|")]
        rows[cells[0].strip("`")] = (cells[2], cells[3])
    assert rows == {s.name: ("compact" if s.compacted else "delete", s.retention) for s in CATALOGUE}


@pytest.mark.parametrize("spec", CATALOGUE, ids=[s.name for s in CATALOGUE])
def test_every_topic_sets_cleanup_and_retention_explicitly(spec):
    cfg = spec.config()
    assert cfg["cleanup.policy"] == ("compact" if spec.compacted else "delete")
    assert int(cfg["retention.ms"]) == spec.retention_ms and (spec.retention_ms == FOREVER or spec.retention_ms > 0)


@pytest.mark.parametrize("spec", [topics.CASE_EVENTS, topics.ACTIONS], ids=lambda s: s.name)
def test_case_history_and_approved_actions_are_kept_forever_uncompacted(spec):
    assert spec.config() == {"cleanup.policy": "delete", "retention.ms": "-1"}


def test_faust_gets_the_same_retention():
    # streams/runtime.py hands faust retention in seconds; faust turns it back into retention.ms.
    for spec in CATALOGUE:
        assert int(spec.retention_ms / 1000 * 1000.0) == spec.retention_ms


@pytest.mark.parametrize("kwargs", [
    {"retention_ms": 0}, {"retention_ms": -5}, {"compacted": True, "retention_ms": 30 * DAY_MS},
])
def test_a_spec_without_a_meaningful_retention_is_refused(kwargs):
    with pytest.raises(ValueError):
        TopicSpec("x.y.v1", "x", key="k", **kwargs)


def test_retention_is_required():
    with pytest.raises(TypeError):
        TopicSpec("x.y.v1", "x", key="k")  # type: ignore[call-arg]
