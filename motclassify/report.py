"""The moments-of-truth report: which touchpoints hurt, with confidence intervals, charts and an offline HTML page."""

from __future__ import annotations

import base64
import csv
import html
import json
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from scipy.stats import binomtest

from .errors import InputError
from .files import read_table, refuse_overwriting
from .labels import DEFAULT_SENTIMENTS

WORST = "miserable"


@dataclass
class MomentRow:
    """One line of the report table."""

    moment: str
    stage: str | None
    count: int
    share: float
    sentiment_shares: dict[str, float]
    sentiment_intervals: dict[str, tuple[float, float]]


def proportion_interval(successes: int, total: int) -> tuple[float, float]:
    """Wilson score 95% confidence interval of a proportion."""
    if total == 0:
        return (0.0, 0.0)
    interval = binomtest(successes, total).proportion_ci(confidence_level=0.95, method="wilson")
    return (round(float(interval.low), 4), round(float(interval.high), 4))


def moment_table(rows: Sequence[dict[str, Any]], sentiments: Sequence[str]) -> list[MomentRow]:
    """Per moment: count, share, sentiment shares with intervals; weakest (highest miserable share) first."""
    by_moment: dict[str, Counter] = defaultdict(Counter)
    stages: dict[str, str | None] = {}
    for row in rows:
        by_moment[row["moment"]][row["sentiment"]] += 1
        stages.setdefault(row["moment"], row.get("stage") or None)
    total = len(rows)
    table = [
        MomentRow(moment, stages[moment], sum(counts.values()), round(sum(counts.values()) / total, 4),
                  {s: round(counts[s] / sum(counts.values()), 4) for s in sentiments},
                  {s: proportion_interval(counts[s], sum(counts.values())) for s in sentiments})
        for moment, counts in by_moment.items()
    ]
    worst = WORST if WORST in sentiments else sentiments[-1]
    return sorted(table, key=lambda r: (-r.sentiment_shares[worst], -r.count, r.moment))


VALENCE = {"magical": 1.0, "average": 0.0, "miserable": -1.0}  # how good an outcome is; other labels count as neutral
MIN_PERIOD_COUNT = 10  # a point of the time chart needs this many transcripts of its moment, else it is hidden


def period_shares(rows: Sequence[dict[str, Any]], time_col: str, sentiment: str,
                  period: str) -> dict[str, dict[date, tuple[int, int]]]:
    """Per moment and period (``"week"``: its Monday, ``"month"``: its first day): ``(transcripts with that
    sentiment, transcripts)``."""
    counts: dict[str, dict[date, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for row in rows:
        day = _day(row.get(time_col), row.get("id"))
        start = day - timedelta(days=day.weekday()) if period == "week" else day.replace(day=1)
        cell = counts[row["moment"]][start]
        cell[0] += row["sentiment"] == sentiment
        cell[1] += 1
    return {m: {p: tuple(v) for p, v in sorted(ps.items())} for m, ps in counts.items()}


def choose_period(rows: Sequence[dict[str, Any]], time_col: str, sentiment: str) -> tuple[str, dict]:
    """Weeks when a typical moment has ``MIN_PERIOD_COUNT`` transcripts a week, else months."""
    weekly = period_shares(rows, time_col, sentiment, "week")
    sizes = [n for periods in weekly.values() for _, n in periods.values()]
    if sizes and float(np.median(sizes)) >= MIN_PERIOD_COUNT:
        return "week", weekly
    return "month", period_shares(rows, time_col, sentiment, "month")


def _day(value: Any, record_id: Any) -> date:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, (int, float)):
        moment = datetime.fromtimestamp(float(value), tz=timezone.utc)
    elif isinstance(value, str) and value.strip():
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError as error:
            raise InputError(f"record {record_id!r}: time {value!r} is not an ISO date or time") from error
    else:
        raise InputError(f"record {record_id!r}: no time value")
    return moment.date() if isinstance(moment, datetime) else moment


def build_report(scored_path: str | Path, output_dir: str | Path, *, time_col: str | None = None,
                 examples: int = 5, fmt: str | None = None) -> Path:
    """Write ``moments.csv``, ``summary.json``, the charts and a self-contained ``report.html``; returns the HTML path."""
    output_dir = Path(output_dir)
    rows = read_table(scored_path, fmt)
    missing = [c for c in ("id", "moment", "sentiment", *([time_col] if time_col else [])) if rows and c not in rows[0]]
    if not rows:
        raise InputError(f"{scored_path}: no scored rows")
    if missing:
        raise InputError(f"{scored_path}: no column {', '.join(map(repr, missing))}; is it a `motclassify score` output?")
    found = {row["sentiment"] for row in rows}
    sentiments = [s for s in DEFAULT_SENTIMENTS if s in found] + sorted(found - set(DEFAULT_SENTIMENTS))
    if WORST not in sentiments and set(DEFAULT_SENTIMENTS) & found:
        sentiments.append(WORST)
    table = moment_table(rows, sentiments)
    worst = WORST if WORST in sentiments else sentiments[-1]
    written = ["moments.csv", "summary.json", "heatmap.png", f"{worst}_share.png", f"{worst}_over_time.png", "report.html"]
    refuse_overwriting(scored_path, output_dir, *(output_dir / name for name in written))
    output_dir.mkdir(parents=True, exist_ok=True)
    _write_csv(table, sentiments, output_dir / "moments.csv")
    charts = {"heatmap": _heatmap(table, sentiments, output_dir / "heatmap.png"),
              "worst_share": _share_bars(table, worst, output_dir / f"{worst}_share.png")}
    period = None
    if time_col:
        period, shares = choose_period(rows, time_col, worst)
        charts["over_time"] = _time_chart(shares, worst, period, output_dir / f"{worst}_over_time.png")
    worst_examples = _examples(rows, table, worst, examples)
    summary = {"transcripts": len(rows), "moments": [asdict(r) for r in table], "examples": worst_examples}
    (output_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    page = output_dir / "report.html"
    page.write_text(_html(table, sentiments, worst, charts, worst_examples, len(rows), period))
    return page


def _examples(rows, table: list[MomentRow], worst: str, count: int) -> dict[str, list[str]]:
    """Ids of the most confidently ``worst`` transcripts of the three weakest moments."""
    result = {}
    for entry in table[:3]:
        matching = [r for r in rows if r["moment"] == entry.moment and r["sentiment"] == worst]
        matching.sort(key=lambda r: -float(r.get("sentiment_score") or 0))
        result[entry.moment] = [str(r["id"]) for r in matching[:count]]
    return result


def _write_csv(table: list[MomentRow], sentiments: Sequence[str], path: Path) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["moment", "stage", "count", "share"]
                        + [f"{s}_{part}" for s in sentiments for part in ("share", "ci_low", "ci_high")])
        for r in table:
            writer.writerow([r.moment, r.stage or "", r.count, r.share]
                            + [v for s in sentiments for v in (r.sentiment_shares[s], *r.sentiment_intervals[s])])


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def heatmap_colours(table: list[MomentRow], sentiments: Sequence[str]) -> list[list[float]]:
    """Each cell's position on a red (bad) to green (good) scale, 0.5 neutral: a large magical share is green,
    a large miserable share red, any average share neutral."""
    return [[0.5 + 0.5 * VALENCE.get(s, 0.0) * r.sentiment_shares[s] for s in sentiments] for r in table]


def _heatmap(table: list[MomentRow], sentiments: Sequence[str], path: Path) -> Path:
    plt = _pyplot()
    counts = [[round(r.sentiment_shares[s] * r.count) for s in sentiments] for r in table]
    figure, axis = plt.subplots(figsize=(2 + 1.3 * len(sentiments), 1 + 0.45 * len(table)))
    image = axis.imshow(heatmap_colours(table, sentiments), cmap="RdYlGn", vmin=0, vmax=1, aspect="auto")
    axis.set_xticks(range(len(sentiments)), sentiments)
    axis.set_yticks(range(len(table)), [r.moment for r in table])
    for y, row in enumerate(counts):
        for x, value in enumerate(row):
            axis.text(x, y, f"{value}\n{value / max(1, sum(row)):.0%}", ha="center", va="center", fontsize=8)
    bar = figure.colorbar(image, ax=axis, ticks=[0, 0.5, 1])
    bar.ax.set_yticklabels(["bad: many\nmiserable", "neutral", "good: many\nmagical"])
    axis.set_title("Moments of truth: transcripts by moment and outcome")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def _share_bars(table: list[MomentRow], worst: str, path: Path) -> Path:
    plt = _pyplot()
    shares = [r.sentiment_shares[worst] for r in table]
    low = [s - r.sentiment_intervals[worst][0] for s, r in zip(shares, table)]
    high = [r.sentiment_intervals[worst][1] - s for s, r in zip(shares, table)]
    figure, axis = plt.subplots(figsize=(7, 1 + 0.45 * len(table)))
    axis.barh(range(len(table)), shares, xerr=[low, high], color="#c0392b", capsize=3)
    axis.set_yticks(range(len(table)), [f"{r.moment} (n={r.count})" for r in table])
    axis.invert_yaxis()
    axis.set_xlabel(f"share {worst} (95% Wilson interval)")
    axis.set_title(f"Weakest moments first: share {worst}")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def _time_chart(shares: dict[str, dict[date, tuple[int, int]]], worst: str, period: str, path: Path) -> Path:
    """One line per moment with its 95% interval band; points with fewer than ``MIN_PERIOD_COUNT`` transcripts
    are left out."""
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(9, 4.5))
    overall: dict[date, list[int]] = defaultdict(lambda: [0, 0])
    for periods in shares.values():
        for start, (k, n) in periods.items():
            overall[start][0] += k
            overall[start][1] += n
    lines = sorted(shares.items()) + [("all moments", {p: tuple(v) for p, v in sorted(overall.items())})]
    for moment, periods in lines:
        shown = [(p, k, n) for p, (k, n) in periods.items() if n >= MIN_PERIOD_COUNT]
        if not shown:
            continue
        starts = [p for p, _, _ in shown]
        line, = axis.plot(starts, [k / n for _, k, n in shown], marker="o", label=moment,
                          **({"color": "black", "linewidth": 2.5} if moment == "all moments" else {}))
        low, high = zip(*(proportion_interval(k, n) for _, k, n in shown))
        axis.fill_between(starts, low, high, color=line.get_color(), alpha=0.15)
    if not axis.lines:
        axis.text(0.5, 0.5, f"too few transcripts for a chart: no {period} has {MIN_PERIOD_COUNT}", ha="center",
                  va="center", transform=axis.transAxes)
    axis.set_ylabel(f"share {worst} (95% interval band)")
    axis.set_xlabel(f"{period} starting")
    axis.set_title(f"Share {worst} by {period} (points with fewer than {MIN_PERIOD_COUNT} transcripts hidden)")
    if axis.lines:
        axis.legend(fontsize=8, ncol=3)
    figure.autofmt_xdate()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def _html(table, sentiments, worst, charts: dict[str, Path], examples, total: int, period: str | None) -> str:
    def image(path: Path) -> str:
        return f'<img alt="{path.stem}" src="data:image/png;base64,{base64.b64encode(path.read_bytes()).decode()}">'

    head = "".join(f"<th>{html.escape(s)}</th>" for s in sentiments)
    body = "".join(
        f"<tr><td>{html.escape(r.moment)}</td><td>{html.escape(r.stage or '')}</td><td>{r.count}</td><td>{r.share:.1%}</td>"
        + "".join(f"<td>{r.sentiment_shares[s]:.1%} <small>[{r.sentiment_intervals[s][0]:.1%}, "
                  f"{r.sentiment_intervals[s][1]:.1%}]</small></td>" for s in sentiments) + "</tr>"
        for r in table)
    listed = "".join(f"<li><b>{html.escape(m)}</b>: {html.escape(', '.join(ids)) or 'none'}</li>" for m, ids in examples.items())
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>Moments of truth report</title>
<style>body{{font-family:sans-serif;max-width:1000px;margin:2em auto}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}td:first-child{{text-align:left}}img{{max-width:100%}}</style>
</head><body><h1>Moments of truth</h1><p>{total} transcripts. Moments ranked by share {html.escape(worst)}, the weakest first;
intervals are 95% Wilson intervals.</p>
<table><tr><th>moment</th><th>stage</th><th>count</th><th>share</th>{head}</tr>{body}</table>
<h2>Outcome by moment</h2>{image(charts["heatmap"])}
<h2>Share {html.escape(worst)}</h2>{image(charts["worst_share"])}
{f"<h2>By {period}</h2>" + image(charts["over_time"]) if period else ""}
<h2>Examples from the weakest moments</h2><p>Transcript ids most confidently {html.escape(worst)}:</p><ul>{listed}</ul>
</body></html>
"""
