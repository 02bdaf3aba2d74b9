"""The report as one self-contained HTML page: plotly's JavaScript is inlined once in <head>, every
figure is a <div> drawn by an inline script, so the page fetches nothing when it is opened (it can be
mailed, archived or opened offline)."""

from __future__ import annotations

import html
from collections.abc import Collection
from datetime import datetime
from pathlib import Path

import plotly.io as pio
import psycopg
from plotly.offline import get_plotlyjs

from ingest.report import figures
from ingest.report.data import COMPLETE, MISSING, PARTIAL, UTC, ReportData, Window, fetch

MAX_GAP_ROWS = 200  # the gap table lists the newest ones; the summary counts all
PLOT_CONFIG = {"displaylogo": False, "responsive": True}

CSS = """
body { font-family: "DejaVu Sans", Arial, sans-serif; margin: 0 auto; max-width: 1200px; padding: 0 20px 40px;
       color: #222; }
h1 { font-size: 24px; margin: 24px 0 4px; }
h2 { font-size: 19px; margin: 32px 0 4px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
p.meta { color: #555; margin: 2px 0; }
p.what { color: #444; margin: 4px 0 8px; max-width: 60em; }
table { border-collapse: collapse; font-size: 13px; margin: 8px 0; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; }
th { background: #f3f3f3; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.none { color: #777; font-style: italic; }
.summary { display: flex; gap: 12px; flex-wrap: wrap; margin: 12px 0; }
.summary div { border: 1px solid #ddd; border-radius: 4px; padding: 6px 12px; }
.summary b { font-size: 18px; display: block; }
"""

SECTIONS = {
    "coverage": (
        "Coverage",
        "Each row is a perpetual or dated future, each column a UTC day. Green: every minute the "
        "instrument was listed that day has its 1-minute candle (zero-volume filler candles count: a "
        "minute without trades is not a gap); amber: some minutes are missing; red: none stored though it "
        "was listed; grey: not listed that day. The newest minutes of a live instrument are lag, not "
        "missing. Hover a cell for the counts. Options are not checked: their table stores only minutes "
        "with trades."),
    "gaps": (
        "Open gaps",
        "Runs of missing 1-minute candles (the ohlcv_gaps view) that overlap the range, newest first. "
        "A gap from an instrument's listing to its first stored candle means its history was not "
        "backfilled that far. Fill gaps with `ingest backfill perpetuals|futures --since ... --until ...`."),
    "quarantine": (
        "Quarantine",
        "Payloads the ingester refused to load (validation failed), received in the range, by dataset "
        "and reason. The raw payloads are in the quarantine table."),
    "basis-term-structure": (
        "Basis term structure",
        "The annualized basis ((future − perpetual) / perpetual, per year to expiry) of every dated "
        "future at the latest hour of the range, against days to expiry. Positive: the future trades above the "
        "perpetual (contango)."),
    "basis-history": (
        "Constant-maturity basis",
        "The annualized basis interpolated at fixed tenors between the listed futures "
        "(basis_constant_maturity_1h), hour by hour; a tenor beyond the longest future has no value."),
    "funding": (
        "Funding",
        "The perpetuals' hourly funding rate, annualized (interest_1h × 24 × 365), and its daily average "
        "(funding_rates_daily). Positive: longs pay shorts."),
    "atm-term-structure": (
        "ATM implied volatility term structure",
        "At-the-money implied volatility of every option expiry (interpolated at the forward from the "
        "chain snapshot), at the latest hour of the range with snapshots (atm_vol_1h)."),
    "atm-history": (
        "Constant-maturity ATM implied volatility",
        "ATM implied volatility interpolated in total variance at 7, 30, 60, 90 and 180 days "
        "(vol_constant_maturity_1h), hour by hour; the 30-day line is the horizon of Deribit's DVOL."),
}


def _e(value) -> str:
    return html.escape("" if value is None else str(value))


def _when(t: datetime | None) -> str:
    return "" if t is None else t.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _section(key: str, body: str) -> str:
    title, what = SECTIONS[key]
    return f'<section id="section-{key}"><h2>{_e(title)}</h2><p class="what">{_e(what)}</p>{body}</section>'


def _table(headers: list[str], rows: list[list[str]], numeric: Collection[int] = ()) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f'<td class="num">{c}</td>' if i in numeric else f"<td>{c}</td>"
                         for i, c in enumerate(row)) + "</tr>"
        for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def gaps_table(data: ReportData) -> str:
    if not data.gaps:
        return '<p class="none">no open gaps in this range</p>'
    shown = data.gaps[:MAX_GAP_ROWS]
    rows = [[_e(g["dataset"]), _e(g["instrument_name"]), _e(_when(g["gap_start"])), _e(_when(g["gap_end"])),
             f"{g['missing_minutes']:,}", f"{g['missing_in_range']:,}"] for g in shown]
    note = "" if len(data.gaps) <= MAX_GAP_ROWS else (
        f'<p class="meta">the newest {MAX_GAP_ROWS} of {len(data.gaps)} gaps</p>')
    return note + _table(["dataset", "instrument", "first missing minute", "next stored minute",
                          "missing minutes", "of them in range"], rows, numeric={4, 5})


def quarantine_table(data: ReportData) -> str:
    if not data.quarantine:
        return '<p class="none">nothing quarantined in this range</p>'
    rows = [[_e(q["dataset"]), _e(q["reason"]), f"{q['payloads']:,}", f"{q['instruments']:,}",
             _e(_when(q["first_received"])), _e(_when(q["last_received"]))] for q in data.quarantine]
    return _table(["dataset", "reason", "payloads", "instruments", "first received", "last received"],
                  rows, numeric={2, 3})


def summary(data: ReportData) -> str:
    counts = data.coverage_counts()
    in_range = sum(g["missing_in_range"] for g in data.gaps)
    boxes = [
        (f"{counts[COMPLETE]:,}", "instrument-days complete"),
        (f"{counts[PARTIAL]:,}", "partial"),
        (f"{counts[MISSING]:,}", "missing"),
        (f"{len(data.gaps):,}", f"open gaps ({in_range:,} minutes in range)"),
        (f"{sum(q['payloads'] for q in data.quarantine):,}", "payloads quarantined"),
    ]
    return '<div class="summary">' + "".join(f"<div><b>{_e(v)}</b>{_e(k)}</div>" for v, k in boxes) + "</div>"


def figure_div(element_id: str, fig) -> str:
    return pio.to_html(fig, full_html=False, include_plotlyjs=False, div_id=element_id, config=PLOT_CONFIG,
                       default_height=f"{fig.layout.height or 420}px")


def render(data: ReportData, database: str = "") -> str:
    """The page for `data`; `database` is printed as given (pass it redacted)."""
    plots = {key: figure_div(f"plot-{key}", build(data)) for key, build in figures.PLOTS}
    w = data.window
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<title>Deribit data report</title>",
        f"<style>{CSS}</style>",
        # plotly.js, inlined: nothing is fetched when the page is opened
        f'<script type="text/javascript">{get_plotlyjs()}</script>',
        "</head><body>",
        "<h1>Deribit data report</h1>",
        f'<p class="meta">range {_e(_when(w.since))} → {_e(_when(w.until))}</p>',
        f'<p class="meta">database {_e(database or "-")} · generated {_e(_when(data.generated_at))}</p>',
        summary(data),
        _section("coverage", plots["coverage"]),
        _section("gaps", gaps_table(data)),
        _section("quarantine", quarantine_table(data)),
        _section("basis-term-structure", plots["basis-term-structure"]),
        _section("basis-history", plots["basis-history"]),
        _section("funding", plots["funding"]),
        _section("atm-term-structure", plots["atm-term-structure"]),
        _section("atm-history", plots["atm-history"]),
        "</body></html>",
    ]
    return "\n".join(parts)


def build_report(conn: psycopg.Connection, window: Window, database: str = "") -> str:
    """Read the database over `window` and return the page."""
    return render(fetch(conn, window), database)


def write_report(conn: psycopg.Connection, out: str | Path, window: Window, database: str = "") -> Path:
    """Write the page to `out` (written whole, then renamed: a reader never sees half a page)."""
    page = build_report(conn, window, database)
    path = Path(out)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(path)
    return path
