"""Cases per day by urgency as an inline SVG stacked bar chart (no chart library)."""

from __future__ import annotations

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
