"""Figures as BENCHMARKS.md reports them: the measured value, a ceiling (or reference) measured in the same run,
their ratio, the target and whether it was met; medians of the runs.

    f = Figure.of_runs("fan-out SMS/s", [812.0, 790.5], "SMS/s", ceilings=[6.1, 6.2], ceiling_is="naive loop",
                       target=20, on="ratio")
    show_figures("Fan-out", [f]); summary["figures"] = [f.to_json()]
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.common import fmt, median, show


@dataclass(frozen=True)
class Figure:
    """One reported figure. `on="ratio"`: the target bounds value / ceiling; `on="value"`: the value itself."""

    name: str
    value: float | None
    unit: str = ""
    ceiling: float | None = None
    ceiling_is: str = ""
    target: float | None = None
    op: str = ">="
    on: str = "value"
    runs: int = 1
    run_ratio: float | None = None  # the median of the runs' own ratios, when each run had its ceiling

    @classmethod
    def of_runs(cls, name: str, values: list, unit: str = "", ceilings: list | None = None, **kw) -> Figure:
        """The median of each run's value and ceiling; the ratio is the median of the runs' own ratios."""
        pairs = list(zip(values, ceilings)) if ceilings is not None and len(ceilings) == len(values) else []
        ratios = [v / c for v, c in pairs if v is not None and c]
        measured = [v for v in values if v is not None]
        return cls(name, median(measured), unit, median([c for c in (ceilings or []) if c is not None]),
                   runs=len(measured), run_ratio=median(ratios), **kw)

    @property
    def ratio(self) -> float | None:
        """Measured / ceiling."""
        if self.run_ratio is not None:
            return self.run_ratio
        return self.value / self.ceiling if self.value is not None and self.ceiling else None

    @property
    def met(self) -> bool | None:
        """Whether the target holds (None without a target or a value)."""
        x = self.ratio if self.on == "ratio" else self.value
        if self.target is None or x is None:
            return None
        return x >= self.target if self.op == ">=" else x <= self.target

    def target_text(self) -> str:
        """The target as printed, e.g. 'ratio >= 20' or '<= 0.3 ms'."""
        if self.target is None:
            return "-"
        what = "ratio " if self.on == "ratio" else ""
        unit = f" {self.unit}" if self.on == "value" and self.unit else ""
        return f"{what}{self.op} {fmt(self.target)}{unit}"

    def to_json(self) -> dict:
        """The figure for the results JSON."""
        return {"name": self.name, "value": self.value, "unit": self.unit, "ceiling": self.ceiling,
                "ceiling_is": self.ceiling_is, "ratio": self.ratio, "target": self.target, "op": self.op,
                "target_on": self.on, "met": self.met, "runs": self.runs}


def show_figures(title: str, figures: list[Figure]) -> None:
    """Print the figures: measured, ceiling, ratio, target, met or missed."""
    def with_unit(x, unit):
        return "-" if x is None else f"{fmt(x)} {unit}".strip()

    rows = [[f.name, with_unit(f.value, f.unit),
             f"{with_unit(f.ceiling, f.unit)} ({f.ceiling_is})" if f.ceiling is not None else "-",
             f.ratio, f.target_text(), {True: "met", False: "MISSED", None: "-"}[f.met], f.runs] for f in figures]
    show(title, ["figure", "measured (median)", "ceiling / reference, same run", "ratio", "target", "met", "runs"],
         rows)


def figures_json(figures: list[Figure]) -> list[dict]:
    """Every figure for the results JSON."""
    return [f.to_json() for f in figures]
