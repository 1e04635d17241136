"""Inline SVG charts (no chart library, no external resources): cases per day by urgency on the system page;
an action's signatures and reports over time and by region on its page."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from markupsafe import Markup, escape

COLOURS = {"low": "#9bb7a8", "medium": "#e0b75c", "high": "#d9822b", "critical": "#b3261e"}
W, H, PAD, LEGEND = 640, 200, 28, 22


def cases_per_day_svg(data: dict[str, dict[str, int]]) -> Markup:
    """A stacked bar per day (oldest left), one colour per urgency, with a legend and day labels."""
    days = list(data)
    top = max([sum(v.values()) for v in data.values()] + [1])
    slot = (W - 2 * PAD) / max(len(days), 1)
    bar = slot * 0.7
    plot_h = H - PAD - LEGEND
    parts = [f'<svg class="chart" viewBox="0 0 {W} {H}" role="img" aria-label="Cases per day by urgency">',
             f'<text x="{PAD}" y="14" class="axis">max {top}/day</text>']
    for i, day in enumerate(days):
        x, y = PAD + i * slot + (slot - bar) / 2, LEGEND + plot_h
        for urgency, colour in COLOURS.items():
            n = data[day].get(urgency, 0)
            if not n:
                continue
            h = plot_h * n / top
            y -= h
            parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" fill="{colour}">'
                         f'<title>{escape(day)}: {n} {urgency}</title></rect>')
        if (len(days) - 1 - i) % 2 == 0 or len(days) < 8:
            parts.append(f'<text x="{x + bar / 2:.1f}" y="{H - 8}" class="axis" text-anchor="middle">{escape(day[5:])}</text>')
    for j, (urgency, colour) in enumerate(COLOURS.items()):
        lx = W - PAD - (4 - j) * 90
        parts.append(f'<rect x="{lx}" y="4" width="10" height="10" fill="{colour}"/>'
                     f'<text x="{lx + 14}" y="13" class="axis">{urgency}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


# --- Action pages: responses over time and by region ------------------------------------------------------------
#
# Text given by the caller (labels, title) is escaped and wrapped in Unicode first-strong isolates, so an Arabic
# label reads right to left inside a chart whose geometry is fixed left to right (`direction="ltr"` on the root:
# an inline SVG would otherwise inherit `dir="rtl"` from the page and flip every text-anchor). Numbers and times
# are written by us in ASCII digits and stay LTR.

SERIES_COLOURS = {"signatures": "#3b6ea8", "reports": "#d9822b"}
PALETTE = ("#3b6ea8", "#d9822b", "#6a9f58", "#8e5ea2", "#b3261e", "#7f7f7f")
CHAR_W = 6.5  # rough width of an 11px character, for laying out labels
MAX_MARKERS = 60  # dots (with their tooltips) on a response line at most
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _clean(text: object) -> str:
    return _NOT_XML.sub("", str(text))


def _label(text: object) -> Markup:
    """Caller text for a <text> element: escaped, isolated (FSI ... PDI) so it keeps its own direction."""
    return Markup("\u2068") + escape(_clean(text)) + Markup("\u2069")


def _attr(text: object) -> Markup:
    return escape(_clean(text))


def _shorten(text: str, chars: int) -> str:
    return text if len(text) <= chars else text[: max(chars - 1, 1)] + "…"


def _colours(keys: list[str]) -> dict[str, str]:
    spare = iter(c for c in PALETTE if c not in {SERIES_COLOURS[k] for k in keys if k in SERIES_COLOURS})
    return {k: SERIES_COLOURS.get(k) or next(spare, PALETTE[-1]) for k in keys}


def _open(width: float, height: float, title: str) -> list[str]:
    return [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width:g} {height:g}" role="img" '
            f'aria-label="{_attr(title)}" direction="ltr"><title>{escape(_clean(title))}</title>']


def _empty(width: float, height: float, title: str, labels: dict[str, str]) -> Markup:
    parts = _open(width, height, title)
    parts.append(f'<text x="{width / 2:g}" y="{height / 2:g}" class="axis empty" text-anchor="middle">'
                 f'{_label(labels.get("empty", ""))}</text></svg>')
    return Markup("".join(parts))


def _legend(parts: list[str], keys: list[str], colours: dict[str, str], labels: dict[str, str], *,
            width: float, mirror: bool = False) -> None:
    x = PAD
    for key in keys:
        text = _label(labels.get(key, key))
        if mirror:  # swatch at the right of its label, items from the right edge leftwards
            parts.append(f'<rect x="{width - x - 10:.1f}" y="4" width="10" height="10" fill="{colours[key]}"/>'
                         f'<text x="{width - x - 14:.1f}" y="13" class="axis legend" text-anchor="end">{text}</text>')
        else:
            parts.append(f'<rect x="{x:.1f}" y="4" width="10" height="10" fill="{colours[key]}"/>'
                         f'<text x="{x + 14:.1f}" y="13" class="axis legend" text-anchor="start">{text}</text>')
        x += 14 + CHAR_W * len(_clean(labels.get(key, key))) + 18


def _timestamp(moment: datetime) -> float:
    return (moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)).timestamp()  # naive = UTC


def _when(ts: float, span: float) -> str:
    moment = datetime.fromtimestamp(ts, UTC)
    return moment.strftime("%Y-%m-%d" if span >= 2 * 86400 else "%Y-%m-%d %H:%M")


def responses_over_time_svg(times: dict[str, list[datetime]], labels: dict[str, str], *, title: str,
                            now: datetime | None = None) -> Markup:
    """A cumulative step line per series (e.g. "signatures", "reports") from the first response to the last (or
    to `now` if given and later), count upwards; legend from `labels[key]`, `labels["empty"]` when nothing yet.
    Each line carries a <title> with its total, each step (up to MAX_MARKERS a line) a dot with its count and time."""
    width, height, top_y, bottom = W, 240, 34, 26
    keys = list(times)
    stamps = {k: sorted(_timestamp(t) for t in times[k]) for k in keys}
    every = [ts for k in keys for ts in stamps[k]]
    if not every:
        return _empty(width, height, title, labels)
    start, end = min(every), max(every)
    if now is not None:
        end = max(end, _timestamp(now))
    span = end - start
    most = max(len(stamps[k]) for k in keys) or 1
    x0, x1 = PAD + CHAR_W * len(str(most)) + 6, width - PAD - CHAR_W * len(str(most)) - 6
    y0, y1 = top_y, height - bottom

    def x(ts: float) -> float:
        return x0 + (x1 - x0) * ((ts - start) / span if span else 0.0)

    def y(n: int) -> float:
        return y1 - (y1 - y0) * n / most

    colours = _colours(keys)
    parts = _open(width, height, title)
    _legend(parts, keys, colours, labels, width=width)
    parts.append(f'<line x1="{x0:.1f}" y1="{y1:.1f}" x2="{x1:.1f}" y2="{y1:.1f}" stroke="#999" stroke-width="1"/>'
                 f'<line x1="{x0:.1f}" y1="{y0:.1f}" x2="{x1:.1f}" y2="{y0:.1f}" stroke="#ddd" stroke-width="1"/>'
                 f'<text x="{x0 - 4:.1f}" y="{y1 + 4:.1f}" class="axis" text-anchor="end">0</text>'
                 f'<text x="{x0 - 4:.1f}" y="{y0 + 4:.1f}" class="axis" text-anchor="end">{most}</text>'
                 f'<text x="{x0:.1f}" y="{height - 8}" class="axis" text-anchor="start">{_when(start, span)}</text>')
    if span:
        parts.append(f'<text x="{x1:.1f}" y="{height - 8}" class="axis" text-anchor="end">{_when(end, span)}</text>')
    for key in keys:
        name, colour = _clean(labels.get(key, key)), colours[key]
        points, n = [(x0, y(0))], 0
        steps: list[tuple[float, int, float]] = []  # (x, count so far, time of the last response at that x)
        for ts in stamps[key]:
            n += 1
            px = round(x(ts), 1)
            if steps and steps[-1][0] == px:  # one step per tenth of a pixel: thousands of signatures stay small
                steps[-1] = (px, n, ts)
                points[-1] = (px, y(n))
                continue
            points += [(px, points[-1][1]), (px, y(n))]
            steps.append((px, n, ts))
        points.append((x1, y(n)))
        line = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
        parts.append(f'<g class="series" data-series="{_attr(key)}" data-total="{n}">'
                     f'<polyline points="{line}" fill="none" stroke="{colour}" stroke-width="2">'
                     f'<title>{escape(name)}: {n}</title></polyline>')
        stride = max(-(-len(steps) // MAX_MARKERS), 1)  # ceiling division; 1 for a series with none yet
        shown = steps if stride == 1 else [*steps[::stride], steps[-1]]
        for px, count, ts in dict.fromkeys(shown):
            parts.append(f'<circle cx="{px:.1f}" cy="{y(count):.1f}" r="2.5" fill="{colour}">'
                         f'<title>{escape(name)}: {count} ({_when(ts, 0)} UTC)</title></circle>')
        parts.append(f'<text x="{x1 + 4:.1f}" y="{y(n) + 4:.1f}" class="axis total" text-anchor="start">{n}</text></g>')
    parts.append("</svg>")
    return Markup("".join(parts))


def by_region_svg(counts: dict[str, dict[str, int]], labels: dict[str, str], *, title: str,
                  rtl: bool = False) -> Markup:
    """Horizontal grouped bars: a row per region (`labels[region]`, in the order given), a bar per series
    (`labels[series]` in the legend), each with its number at its end; `labels["empty"]` when there are no regions.
    `rtl` mirrors the layout (region names at the right, bars growing leftwards); numbers stay LTR either way."""
    width = W
    counts = {region: {k: max(int(v or 0), 0) for k, v in row.items()} for region, row in counts.items()}
    regions = list(counts)
    keys = list(dict.fromkeys(k for region in regions for k in counts[region]))
    if not regions or not keys:
        return _empty(width, 120, title, labels)
    bar_h, bar_gap, row_gap, top_y = 12, 2, 10, 30
    row_h = len(keys) * (bar_h + bar_gap) - bar_gap + row_gap
    height = top_y + len(regions) * row_h + 4
    longest = max(len(_clean(labels.get(r, r))) for r in regions)
    label_w = min(CHAR_W * longest + 10, width * 0.35)
    most = max([counts[r].get(k, 0) for r in regions for k in keys] + [1])
    bx0, bx1 = PAD + label_w, width - PAD - CHAR_W * len(str(most)) - 6
    colours = _colours(keys)

    def at(xx: float) -> float:
        return width - xx if rtl else xx

    def anchor(side: str) -> str:
        return {"start": "end", "end": "start"}[side] if rtl else side

    parts = _open(width, height, title)
    _legend(parts, keys, colours, labels, width=width, mirror=rtl)
    for i, region in enumerate(regions):
        name = _clean(labels.get(region, region))
        ry = top_y + i * row_h
        mid = ry + (row_h - row_gap) / 2
        shown = _label(_shorten(name, max(int((label_w - 10) / CHAR_W), 4)))
        parts.append(f'<g class="region" data-region="{_attr(region)}">'
                     f'<text x="{at(bx0 - 6):.1f}" y="{mid + 4:.1f}" class="axis" text-anchor="{anchor("end")}">'
                     f'{shown}<title>{escape(name)}</title></text>')
        for j, key in enumerate(keys):
            n = counts[region].get(key, 0)
            w = (bx1 - bx0) * n / most
            by = ry + j * (bar_h + bar_gap)
            left = at(bx0 + w) if rtl else bx0
            parts.append(f'<rect x="{left:.1f}" y="{by:.1f}" width="{w:.1f}" height="{bar_h}" fill="{colours[key]}" '
                         f'data-series="{_attr(key)}" data-count="{n}">'
                         f'<title>{escape(name)}: {escape(_clean(labels.get(key, key)))}: {n}</title></rect>'
                         f'<text x="{at(bx0 + w + 4):.1f}" y="{by + bar_h - 2:.1f}" class="axis count" '
                         f'text-anchor="{anchor("start")}">{n}</text>')
        parts.append("</g>")
    parts.append("</svg>")
    return Markup("".join(parts))
