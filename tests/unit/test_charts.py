"""Inline SVG charts: well-formed, escaped, self-contained, empty-safe, and the numbers they draw."""

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markupsafe import Markup

from streams.web.ui.chart import MAX_MARKERS, by_region_svg, cases_per_day_svg, responses_over_time_svg

NS = "{http://www.w3.org/2000/svg}"
T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
LABELS = {"signatures": "Signatures", "reports": "Reports", "empty": "No responses yet",
          "AF": "Africa", "LA": "Latin America", "MENA": "الشرق الأوسط وشمال أفريقيا"}
HOSTILE = '<script>alert("x")</script> & \'quoted\''


def parse(svg: Markup) -> ET.Element:
    assert isinstance(svg, Markup)
    root = ET.fromstring(str(svg))
    assert root.tag == f"{NS}svg"
    return root


def texts(root: ET.Element) -> list[str]:
    return [(el.text or "").strip("\u2068\u2069") for el in root.iter(f"{NS}text")]  # not their <title>s


def titles(root: ET.Element) -> list[str]:
    return [el.text or "" for el in root.iter(f"{NS}title")]


def points(polyline: ET.Element) -> list[tuple[float, float]]:
    return [tuple(map(float, p.split(","))) for p in polyline.get("points").split()]


def self_contained(svg: Markup) -> None:
    s = str(svg)
    for external in ("href", "url(", "<image", "<script", "<foreignObject", "@import", "http://", "https://"):
        if external == "http://":
            s = s.replace('xmlns="http://www.w3.org/2000/svg"', "")
        assert external not in s, external


def responses(**kw) -> dict:
    return {"signatures": [T0 + timedelta(hours=h) for h in (0, 1, 1, 2, 5, 30)],
            "reports": [T0 + timedelta(hours=h) for h in (3, 4)], **kw}


# --- responses over time ---


def test_responses_chart_is_accessible_well_formed_svg():
    svg = responses_over_time_svg(responses(), LABELS, title="Responses over time")
    root = parse(svg)
    assert root.get("role") == "img" and root.get("aria-label") == "Responses over time"
    assert root.get("direction") == "ltr"  # geometry fixed: an RTL page must not flip text-anchors
    assert titles(root)[0] == "Responses over time"
    self_contained(svg)


def test_responses_chart_shows_totals_legend_and_tooltips():
    root = parse(responses_over_time_svg(responses(), LABELS, title="t"))
    series = {g.get("data-series"): g for g in root.iter(f"{NS}g")}
    assert {k: g.get("data-total") for k, g in series.items()} == {"signatures": "6", "reports": "2"}
    shown = texts(root)
    assert "Signatures" in shown and "Reports" in shown  # legend
    assert "6" in shown and "2" in shown  # totals at line ends; "6" also tops the y axis
    assert "Signatures: 6" in titles(root) and "Reports: 2" in titles(root)
    assert "Signatures: 3 (2025-03-01 10:00 UTC)" in titles(root)  # two at 10:00: one step of two
    assert "2025-03-01 09:00" in shown and "2025-03-02 15:00" in shown  # first and last response


@pytest.mark.parametrize("key", ["signatures", "reports"])
def test_cumulative_lines_only_go_up_and_right(key):
    root = parse(responses_over_time_svg(responses(), LABELS, title="t"))
    group = next(g for g in root.iter(f"{NS}g") if g.get("data-series") == key)
    line = points(group.find(f"{NS}polyline"))
    xs, ys = [x for x, _ in line], [y for _, y in line]
    assert xs == sorted(xs)  # time moves right
    assert ys == sorted(ys, reverse=True)  # counts only grow (SVG y grows downwards)
    for (xa, ya), (xb, yb) in zip(line, line[1:]):
        assert xa == xb or ya == yb  # steps: each segment is horizontal or vertical
    counts = [int(t.text.split(": ")[1].split()[0]) for t in group.iter(f"{NS}title")][1:]
    assert counts == sorted(counts) and counts[-1] == int(group.get("data-total"))


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(0, 10**6), max_size=200), st.lists(st.integers(0, 10**6), max_size=50))
def test_cumulative_lines_are_monotone_for_any_times(sig, rep):
    times = {"signatures": [T0 + timedelta(seconds=s) for s in sig],
             "reports": [T0 + timedelta(seconds=s) for s in rep]}
    root = parse(responses_over_time_svg(times, LABELS, title="t"))
    for group in root.iter(f"{NS}g"):
        line = points(group.find(f"{NS}polyline"))
        assert [x for x, _ in line] == sorted(x for x, _ in line)
        assert [y for _, y in line] == sorted((y for _, y in line), reverse=True)
        assert int(group.get("data-total")) == len(times[group.get("data-series")])
        assert len(group.findall(f"{NS}circle")) <= MAX_MARKERS + 1


def test_a_series_with_no_responses_yet_is_a_flat_zero_line():
    times = {"signatures": [T0, T0 + timedelta(hours=1)], "reports": []}
    root = parse(responses_over_time_svg(times, LABELS, title="t"))
    group = next(g for g in root.iter(f"{NS}g") if g.get("data-series") == "reports")
    assert group.get("data-total") == "0" and not group.findall(f"{NS}circle")
    assert len({y for _, y in points(group.find(f"{NS}polyline"))}) == 1
    assert "Reports" in texts(root)  # still in the legend


def test_the_time_axis_runs_to_now_when_given():
    now = T0 + timedelta(days=3)
    shown = texts(parse(responses_over_time_svg(responses(), LABELS, title="t", now=now)))
    assert "2025-03-01" in shown and "2025-03-04" in shown  # a span of days: dates only
    earlier = texts(parse(responses_over_time_svg(responses(), LABELS, title="t", now=T0)))
    assert "2025-03-02 15:00" in earlier  # a `now` before the last response does not shorten the axis


def test_naive_times_are_utc_and_a_single_moment_draws():
    root = parse(responses_over_time_svg({"signatures": [T0.replace(tzinfo=None)] * 3}, LABELS, title="t"))
    assert "Signatures: 3 (2025-03-01 09:00 UTC)" in titles(root)


def test_many_responses_keep_the_chart_small():
    times = {"signatures": [T0 + timedelta(seconds=7 * i) for i in range(20_000)]}
    svg = responses_over_time_svg(times, LABELS, title="t")
    root = parse(svg)
    assert len(str(svg)) < 200_000 and len(list(root.iter(f"{NS}circle"))) <= MAX_MARKERS + 1
    assert next(root.iter(f"{NS}g")).get("data-total") == "20000"


@pytest.mark.parametrize("times", [{}, {"signatures": [], "reports": []}])
def test_responses_chart_when_empty(times):
    root = parse(responses_over_time_svg(times, LABELS, title="Responses"))
    assert texts(root) == ["No responses yet"]
    assert root.get("aria-label") == "Responses"
    assert not list(root.iter(f"{NS}polyline"))


def test_responses_chart_escapes_everything():
    labels = {"signatures": HOSTILE, "reports": "<b>r</b>", "empty": HOSTILE}
    svg = responses_over_time_svg(responses(), labels, title=HOSTILE)
    assert "<script" not in str(svg) and "<b>" not in str(svg)
    root = parse(svg)
    assert root.get("aria-label") == HOSTILE
    assert HOSTILE in texts(root) and "<b>r</b>" in texts(root)
    assert f"{HOSTILE}: 6" in titles(root)
    empty = parse(responses_over_time_svg({}, labels, title=HOSTILE))
    assert texts(empty) == [HOSTILE]


def test_control_characters_do_not_break_the_svg():
    root = parse(responses_over_time_svg(responses(), {"signatures": "a\x00b\x1bc\ud800"}, title="t\x07"))
    assert "abc" in texts(root)


def test_labels_are_isolated_so_arabic_keeps_its_direction():
    svg = str(responses_over_time_svg(responses(), {"signatures": "التوقيعات (12)"}, title="t"))
    assert "\u2068التوقيعات (12)\u2069" in svg


# --- by region ---

REGIONS = {"AF": {"signatures": 12, "reports": 3}, "LA": {"signatures": 7}, "MENA": {"reports": 1, "signatures": 0}}


def bars(root: ET.Element) -> dict[tuple[str, str], ET.Element]:
    return {(g.get("data-region"), r.get("data-series")): r for g in root.iter(f"{NS}g") for r in g.iter(f"{NS}rect")}


def test_region_chart_is_accessible_well_formed_svg():
    svg = by_region_svg(REGIONS, LABELS, title="By region")
    root = parse(svg)
    assert root.get("role") == "img" and root.get("aria-label") == "By region" and root.get("direction") == "ltr"
    self_contained(svg)


def test_region_chart_writes_every_count_at_its_bar_end():
    root = parse(by_region_svg(REGIONS, LABELS, title="t"))
    found = bars(root)
    assert {k: int(r.get("data-count")) for k, r in found.items()} == {
        ("AF", "signatures"): 12, ("AF", "reports"): 3, ("LA", "signatures"): 7, ("LA", "reports"): 0,
        ("MENA", "signatures"): 0, ("MENA", "reports"): 1}
    for g in root.iter(f"{NS}g"):
        numbers = [t for t in g.iter(f"{NS}text") if "count" in t.get("class")]
        for rect, number in zip(g.iter(f"{NS}rect"), numbers):
            assert number.text == rect.get("data-count")
            end = float(rect.get("x")) + float(rect.get("width"))
            assert float(number.get("x")) == pytest.approx(end + 4, abs=0.11)
            assert number.get("text-anchor") == "start"
    assert "Africa: Signatures: 12" in titles(root)
    assert {"Africa", "Latin America", "الشرق الأوسط وشمال أفريقيا", "Signatures", "Reports"} <= set(texts(root))


def test_bar_lengths_are_proportional():
    found = bars(parse(by_region_svg(REGIONS, LABELS, title="t")))
    widths = {k: float(r.get("width")) for k, r in found.items()}
    assert widths[("AF", "signatures")] > widths[("LA", "signatures")] > widths[("AF", "reports")] > 0
    assert widths[("LA", "signatures")] / widths[("AF", "signatures")] == pytest.approx(7 / 12, rel=0.01)
    assert widths[("LA", "reports")] == 0


def test_region_rows_follow_the_callers_order():
    root = parse(by_region_svg(REGIONS, LABELS, title="t"))
    assert [g.get("data-region") for g in root.iter(f"{NS}g")] == ["AF", "LA", "MENA"]


def test_rtl_mirrors_the_bars_and_keeps_numbers_ltr():
    ltr = bars(parse(by_region_svg(REGIONS, LABELS, title="t")))
    root = parse(by_region_svg(REGIONS, LABELS, title="t", rtl=True))
    rtl = bars(root)
    width = float(root.get("viewBox").split()[2])
    for key, rect in rtl.items():
        assert float(rect.get("width")) == float(ltr[key].get("width"))
        right = float(rect.get("x")) + float(rect.get("width"))
        assert right == pytest.approx(width - float(ltr[key].get("x")), abs=0.11)  # bars grow from the right
    for g in root.iter(f"{NS}g"):
        for number in (t for t in g.iter(f"{NS}text") if "count" in t.get("class")):
            assert number.get("text-anchor") == "end" and number.text.isascii() and number.text.isdigit()
    assert root.get("direction") == "ltr"


@pytest.mark.parametrize("counts", [{}, {"AF": {}}])
def test_region_chart_when_empty(counts):
    root = parse(by_region_svg(counts, LABELS, title="By region"))
    assert texts(root) == ["No responses yet"]
    assert not list(root.iter(f"{NS}rect"))


def test_region_chart_escapes_everything():
    labels = {"AF": HOSTILE, "signatures": "<i>s</i>"}
    svg = by_region_svg({"AF": {"signatures": 1}, "<x>": {"signatures": 2}}, labels, title=HOSTILE)
    assert "<script" not in str(svg) and "<i>" not in str(svg) and "<x>" not in str(svg)
    root = parse(svg)
    assert root.get("aria-label") == HOSTILE
    assert f"{HOSTILE}: <i>s</i>: 1" in titles(root)
    assert {g.get("data-region") for g in root.iter(f"{NS}g")} == {"AF", "<x>"}


def test_long_region_names_are_shortened_on_screen_but_whole_in_the_tooltip():
    name = "The Democratic Republic of the Long Region Name With Many Words In It"
    root = parse(by_region_svg({"X": {"signatures": 1}}, {"X": name}, title="t"))
    shown = [t for t in texts(root) if t.startswith("The Democratic")]
    assert shown and shown[0].endswith("…") and len(shown[0]) < len(name)
    assert name in titles(root)


def test_negative_or_missing_counts_draw_as_zero():
    found = bars(parse(by_region_svg({"AF": {"signatures": -3, "reports": None}}, LABELS, title="t")))
    assert {k: r.get("data-count") for k, r in found.items()} == {("AF", "signatures"): "0", ("AF", "reports"): "0"}


# --- the system page's chart is untouched ---


def test_cases_per_day_still_renders():
    svg = cases_per_day_svg({"2025-03-01": {"high": 2, "low": 1}, "2025-03-02": {}})
    assert 'aria-label="Cases per day by urgency"' in svg and "2025-03-01: 2 high" in svg
    ET.fromstring(str(svg))
