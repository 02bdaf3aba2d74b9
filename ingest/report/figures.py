"""The report's plots (plotly figures), one function per plot, each from ReportData.

A plot whose query returned nothing is an empty figure that says so ("no data ..."), never an error.
Times are drawn in UTC: plotly.js has no time zones, so timestamps are handed over without one.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import plotly.graph_objects as go

from ingest.report.data import COMPLETE, MISSING, PARTIAL, UTC, ReportData

# exchange convention: an annualized basis over a few days multiplies noise of a few basis points
# into tens of percent (docs/analyst-guide.md, "Basis term structure now"); such futures are left out
MIN_DAYS_FOR_ANNUALIZED_BASIS = 7

STATUS_CODE = {MISSING: 0, PARTIAL: 1, COMPLETE: 2}
STATUS_COLOUR = {MISSING: "#d62728", PARTIAL: "#ffbf00", COMPLETE: "#2ca02c"}
CURRENCY_COLOUR = {"BTC": "#f7931a", "ETH": "#627eea"}
# a dash per tenor (days); colours are per currency
TENOR_DASH = {7: "dot", 30: "solid", 60: "dash", 90: "dashdot", 180: "longdash"}
FONT = dict(family="DejaVu Sans, Arial, sans-serif", size=12)
NO_DATA = "no data in this range"


def _utc_naive(t: datetime) -> datetime:
    return t.astimezone(UTC).replace(tzinfo=None)


def _layout(fig: go.Figure, title: str, **kw) -> go.Figure:
    fig.update_layout(title=dict(text=title, x=0.01, xanchor="left"), font=FONT, template="plotly_white",
                      margin=dict(l=70, r=30, t=60, b=50), height=kw.pop("height", 420),
                      legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1.0), **kw)
    return fig


def _time_axis(fig: go.Figure, data: ReportData) -> None:
    """The x axis spans the report's range, so a few hours of data show where in the range they are
    (and one hour is not stretched over the whole width)."""
    pad = (data.window.until - data.window.since) * 0.01  # markers at the ends stay whole
    fig.update_xaxes(title="UTC", type="date",
                     range=[_utc_naive(data.window.since - pad), _utc_naive(data.window.until + pad)])


def no_data(title: str, why: str = NO_DATA) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=why, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper",
                       font=dict(size=16, color="#777"))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return _layout(fig, title, height=220)


def _currency_colour(currency: str) -> str | None:
    return CURRENCY_COLOUR.get(currency)


# --- coverage -------------------------------------------------------------------------------------

def coverage(data: ReportData) -> go.Figure:
    """Heatmap instrument x UTC day: complete (every expected minute stored), partial, missing
    (nothing stored though the instrument was listed); blank where it was not listed."""
    title = "Coverage of 1-minute candles: instrument × UTC day"
    if not data.coverage:
        return no_data(title)
    rows: list[str] = []
    days: list[str] = []
    for cell in data.coverage:
        if cell.instrument_name not in rows:
            rows.append(cell.instrument_name)
        day = cell.day.astimezone(UTC).strftime("%Y-%m-%d")
        if day not in days:
            days.append(day)
    z: list[list[int | None]] = [[None] * len(days) for _ in rows]
    text: list[list[str]] = [[""] * len(days) for _ in rows]
    for cell in data.coverage:
        r = rows.index(cell.instrument_name)
        c = days.index(cell.day.astimezone(UTC).strftime("%Y-%m-%d"))
        status = cell.status
        z[r][c] = STATUS_CODE[status] if status else None
        text[r][c] = (f"{cell.instrument_name} {days[c]}<br>{cell.stored} of {cell.expected} minutes stored"
                      f"<br>{status or 'not listed'}")
    scale = [[0.0, STATUS_COLOUR[MISSING]], [1 / 3, STATUS_COLOUR[MISSING]],
             [1 / 3, STATUS_COLOUR[PARTIAL]], [2 / 3, STATUS_COLOUR[PARTIAL]],
             [2 / 3, STATUS_COLOUR[COMPLETE]], [1.0, STATUS_COLOUR[COMPLETE]]]
    fig = go.Figure(go.Heatmap(
        x=days, y=rows, z=z, text=text, hoverinfo="text", zmin=-0.5, zmax=2.5, colorscale=scale,
        xgap=1, ygap=1, hoverongaps=False,
        colorbar=dict(tickvals=[0, 1, 2], ticktext=[MISSING, PARTIAL, COMPLETE], title="", len=0.6),
    ))
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_xaxes(type="category", tickangle=-45)
    return _layout(fig, title, height=max(260, 140 + 22 * len(rows)), plot_bgcolor="#eeeeee")


# --- basis ----------------------------------------------------------------------------------------

def basis_term_structure(data: ReportData) -> go.Figure:
    """Annualized basis of each dated future against its perpetual, by days to expiry, at each
    currency's latest hour."""
    rows = [r for r in data.basis_term_structure
            if r["annualized_basis_pct"] is not None and r["days_to_expiry"] >= MIN_DAYS_FOR_ANNUALIZED_BASIS]
    title = (f"Basis term structure: annualized basis vs the perpetual (futures with ≥ "
             f"{MIN_DAYS_FOR_ANNUALIZED_BASIS} days to expiry)")
    if not rows:
        return no_data(title)
    fig = go.Figure()
    for currency in sorted({r["currency"] for r in rows}):
        mine = [r for r in rows if r["currency"] == currency]
        as_of = _utc_naive(mine[0]["ts"]).strftime("%Y-%m-%d %H:00")
        fig.add_trace(go.Scatter(
            x=[r["days_to_expiry"] for r in mine], y=[r["annualized_basis_pct"] for r in mine],
            text=[r["future"] for r in mine], mode="lines+markers+text",
            textposition="top center" if currency != "ETH" else "bottom center",
            name=f"{currency} (hour of {as_of} UTC)", line=dict(color=_currency_colour(currency)),
            hovertemplate="%{text}<br>%{x:.1f} days<br>%{y:.2f}% a year<extra></extra>"))
    fig.update_xaxes(title="days to expiry", rangemode="tozero")
    fig.update_yaxes(title="annualized basis, % a year", zeroline=True)
    return _layout(fig, title)


def basis_history(data: ReportData) -> go.Figure:
    """Constant-maturity annualized basis (30/60/90/180 days) hour by hour."""
    title = "Constant-maturity basis, annualized (% a year), hourly"
    rows = [r for r in data.basis_history if r["annualized_basis_pct"] is not None]
    if not rows:
        return no_data(title)
    fig = go.Figure()
    for currency, tenor in sorted({(r["currency"], r["tenor_days"]) for r in rows}):
        mine = [r for r in data.basis_history if r["currency"] == currency and r["tenor_days"] == tenor]
        fig.add_trace(go.Scatter(
            x=[_utc_naive(r["ts"]) for r in mine], y=[r["annualized_basis_pct"] for r in mine],
            mode="lines", name=f"{currency} {tenor}d",
            line=dict(color=_currency_colour(currency), dash=TENOR_DASH.get(tenor, "solid"), width=1.5)))
    _time_axis(fig, data)
    fig.update_yaxes(title="% a year")
    return _layout(fig, title)


# --- funding --------------------------------------------------------------------------------------

def funding(data: ReportData) -> go.Figure:
    """Each perpetual's funding annualized: every hour (thin) and the UTC day's average (thick)."""
    title = "Funding of the perpetuals, annualized (% a year): hourly and daily average"
    if not data.funding_hourly and not data.funding_daily:
        return no_data(title)
    fig = go.Figure()
    names = sorted({r["instrument_name"] for r in data.funding_hourly + data.funding_daily})
    for name in names:
        colour = _currency_colour(name.split("-")[0])
        hourly = [r for r in data.funding_hourly if r["instrument_name"] == name]
        daily = [r for r in data.funding_daily if r["instrument_name"] == name]
        if hourly:
            fig.add_trace(go.Scatter(
                x=[_utc_naive(r["ts"]) for r in hourly], y=[r["annualized_pct"] for r in hourly],
                mode="lines", name=f"{name} hourly", opacity=0.45, line=dict(color=colour, width=1)))
        if daily:
            fig.add_trace(go.Scatter(  # drawn at noon: the middle of the UTC day it averages
                x=[_utc_naive(r["ts"]) + timedelta(hours=12) for r in daily],
                y=[r["annualized_pct"] for r in daily],
                mode="lines+markers", name=f"{name} daily average",
                line=dict(color=colour, width=3),
                customdata=[r["hours"] for r in daily],
                hovertemplate="%{x|%Y-%m-%d}: %{y:.2f}% a year (%{customdata} hours)<extra></extra>"))
    _time_axis(fig, data)
    fig.update_yaxes(title="% a year", zeroline=True)
    return _layout(fig, title)


# --- implied volatility ---------------------------------------------------------------------------

def atm_term_structure(data: ReportData) -> go.Figure:
    """ATM implied volatility of every expiry at each currency's latest hour."""
    title = "ATM implied volatility term structure (latest hour in range)"
    rows = [r for r in data.atm_term_structure if r["atm_iv"] is not None]
    if not rows:
        return no_data(title)
    fig = go.Figure()
    for currency in sorted({r["currency"] for r in rows}):
        mine = [r for r in rows if r["currency"] == currency]
        as_of = _utc_naive(mine[0]["snapshot_ts"]).strftime("%Y-%m-%d %H:%M")
        fig.add_trace(go.Scatter(
            x=[r["days_to_expiry"] for r in mine], y=[r["atm_iv"] for r in mine],
            text=[_utc_naive(r["expiry"]).strftime("%d%b%y").upper().lstrip("0") for r in mine],
            mode="lines+markers", name=f"{currency} (snapshot {as_of} UTC)",
            line=dict(color=_currency_colour(currency)),
            hovertemplate="%{text}<br>%{x:.2f} days<br>ATM IV %{y:.2f}%<extra></extra>"))
    fig.update_xaxes(title="days to expiry", rangemode="tozero")
    fig.update_yaxes(title="ATM implied volatility, %")
    return _layout(fig, title)


def atm_history(data: ReportData) -> go.Figure:
    """Constant-maturity ATM implied volatility hour by hour."""
    title = "Constant-maturity ATM implied volatility (%), hourly"
    rows = [r for r in data.atm_history if r["atm_iv"] is not None]
    if not rows:
        return no_data(title)
    fig = go.Figure()
    for currency, tenor in sorted({(r["currency"], r["tenor_days"]) for r in rows}):
        mine = [r for r in data.atm_history if r["currency"] == currency and r["tenor_days"] == tenor]
        fig.add_trace(go.Scatter(
            x=[_utc_naive(r["ts"]) for r in mine], y=[r["atm_iv"] for r in mine],
            mode="lines+markers", name=f"{currency} {tenor}d", marker=dict(size=4),
            line=dict(color=_currency_colour(currency), dash=TENOR_DASH.get(tenor, "solid"), width=1.5)))
    _time_axis(fig, data)
    fig.update_yaxes(title="%")
    return _layout(fig, title)


# the plots in page order: (element id, figure builder)
PLOTS = (
    ("coverage", coverage),
    ("basis-term-structure", basis_term_structure),
    ("basis-history", basis_history),
    ("funding", funding),
    ("atm-term-structure", atm_term_structure),
    ("atm-history", atm_history),
)
