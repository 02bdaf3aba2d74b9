"""`ingest check-api`: does the live exchange still answer the way the parsers expect?

For a user with internet access (or a test against the simulator): one request per method the project
uses, each answer run through the same validation the ingester uses. A finding is

* ``loss``  — what the ingester would do with this answer loses data (rows rejected, the answer broken
  as a whole, an expected field missing that no fallback covers, an error where data was expected);
* ``note``  — a known variation the code handles (``mark_iv`` missing and recovered from the mark price,
  one-sided IVs of 0, fields the code does not read), printed so that a user sees what changed.

Exit status: 0 no loss; 1 at least one loss; 2 the exchange could not be reached.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import click

from ingest.datasets import chain as options_chain
from ingest.datasets import funding, instruments
from ingest.datasets import index as index_prices
from ingest.deribit.client import DeribitClient, DeribitError, RequestFailed
from ingest.deribit.quirks import DAY_MS, HOUR_MS, MAX_TRADES_PER_CALL, MINUTE_MS
from ingest.storage.validate import chart_candles

# daily candles are ticked at the 08:00 UTC settlement
DAILY_TICK_OFFSET_MS = 8 * HOUR_MS


@dataclass
class Finding:
    method: str
    host: str
    level: str  # ok | note | loss | unreachable
    detail: str = ""


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        levels = {f.level for f in self.findings}
        if "unreachable" in levels:
            return 2
        return 1 if "loss" in levels else 0

    def text(self) -> str:
        lines = [f"{'method':<38} {'host':<8} {'result':<11} detail"]
        for f in self.findings:
            lines.append(f"{f.method:<38} {f.host:<8} {f.level.upper():<11} {f.detail}")
        n = {lvl: sum(1 for f in self.findings if f.level == lvl) for lvl in ("ok", "note", "loss", "unreachable")}
        lines.append(f"{n['ok']} ok, {n['note']} note(s), {n['loss']} loss(es), {n['unreachable']} unreachable")
        return "\n".join(lines)


class _Checker:
    def __init__(self, client: DeribitClient):
        self.client = client
        self.report = Report()
        self.now_ms = 0
        self.futures: list[dict] = []  # get_instruments' futures, once answered
        self.options: list[str] = []  # option names of the book summary, once answered

    def call(self, method: str, params: dict, host: str = "www") -> tuple[bool, Any]:
        try:
            return True, self.client.call(method, params, host=host)
        except RequestFailed as exc:
            self.add(method, host, "unreachable", str(exc))
        except DeribitError as exc:
            self.add(method, host, "loss", f"error {exc.code} {exc}")
        return False, None

    def add(self, method: str, host: str, level: str, detail: str = "") -> None:
        self.report.findings.append(Finding(method, host, level, detail))

    def validated(self, method: str, host: str, v, *, what: str, notes: Sequence[str] = ()) -> None:
        """A loss when anything was rejected or nothing came out; else ok (with notes)."""
        if v.rejected:
            reasons = sorted({r.reason for r in v.rejected})
            self.add(method, host, "loss", f"{len(v.rejected)} {what} rejected: {'; '.join(reasons)[:300]}")
        elif not v.rows:
            self.add(method, host, "loss", f"no {what} in the answer")
        elif notes:
            self.add(method, host, "note", f"{len(v.rows)} {what}; " + "; ".join(notes))
        else:
            self.add(method, host, "ok", f"{len(v.rows)} {what}")


def _missing(items: list[dict], fields: tuple[str, ...]) -> dict[str, int]:
    out = {}
    for f in fields:
        n = sum(1 for i in items if i.get(f) is None)
        if n:
            out[f] = n
    return out


def check(client: DeribitClient, currency: str = "BTC") -> Report:
    """Run every check against `client` (one request per method; a couple more where an answer names
    the instrument to ask about next)."""
    c = _Checker(client)
    steps: list[Callable[[_Checker, str], None]] = [
        _time, _instruments, _candles, _daily_candles, _funding, _delivery, _index, _book_summary, _ticker,
        _trades]
    for step in steps:
        step(c, currency)
        if c.report.findings and c.report.findings[-1].level == "unreachable" and step is _time:
            break  # nothing answers: no point asking the rest
    return c.report


def _time(c: _Checker, currency: str) -> None:
    ok, now = c.call("get_time", {})
    if not ok:
        return
    if not isinstance(now, int) or isinstance(now, bool) or now < 10**12:
        c.add("get_time", "www", "loss", f"not epoch milliseconds: {now!r}")
        return
    c.now_ms = now
    c.add("get_time", "www", "ok", "epoch ms")


def _instruments(c: _Checker, currency: str) -> None:
    ok, items = c.call("get_instruments", {"currency": currency, "kind": "future", "expired": False})
    if not ok:
        return
    if not isinstance(items, list):
        c.add("get_instruments", "www", "loss", "answer is not a list")
        return
    c.futures = [i for i in items if isinstance(i, dict)]
    missing = _missing(c.futures, ("state",))
    notes = [f"{n} without {f!r} (stored NULL)" for f, n in missing.items()]
    periods = sorted({str(i.get("settlement_period")) for i in c.futures})
    notes.append("settlement periods: " + ", ".join(periods))
    c.validated("get_instruments", "www", instruments.validate(c.futures), what="instruments", notes=notes)


def _candles(c: _Checker, currency: str) -> None:
    end = c.now_ms - c.now_ms % MINUTE_MS - MINUTE_MS
    start = end - 9 * MINUTE_MS
    name = f"{currency}-PERPETUAL"
    ok, result = c.call("get_tradingview_chart_data", {"instrument_name": name, "start_timestamp": start,
                                                      "end_timestamp": end, "resolution": "1"})
    if ok:
        c.validated("get_tradingview_chart_data", "www", chart_candles("perpetuals", name, result, start, end),
                    what="1-minute candles")


def _daily_candles(c: _Checker, currency: str) -> None:
    name = f"{currency}-PERPETUAL"
    ok, result = c.call("get_tradingview_chart_data", {"instrument_name": name,
                                                      "start_timestamp": c.now_ms - 5 * DAY_MS,
                                                      "end_timestamp": c.now_ms, "resolution": "1D"})
    if not ok:
        return
    ticks = result.get("ticks") if isinstance(result, dict) else None
    method = "get_tradingview_chart_data (1D)"
    if not isinstance(ticks, list) or not ticks:
        c.add(method, "www", "loss", "no ticks in the answer")
    elif any(t % DAY_MS != DAILY_TICK_OFFSET_MS for t in ticks):
        # only the futures probe reads daily candles, for their first tick: a shift loses nothing
        c.add(method, "www", "note", "daily ticks not at 08:00 UTC")
    else:
        c.add(method, "www", "ok", f"{len(ticks)} daily ticks at 08:00 UTC")


def _funding(c: _Checker, currency: str) -> None:
    name = f"{currency}-PERPETUAL"
    end = c.now_ms - c.now_ms % HOUR_MS
    start = end - 8 * HOUR_MS
    try:
        result = funding.fetch_window(c.client, name, end, start)
    except RequestFailed as exc:
        c.add("get_funding_rate_history", "www", "unreachable", str(exc))
        return
    except DeribitError as exc:
        c.add("get_funding_rate_history", "www", "loss", f"error {exc.code} {exc}")
        return
    v = funding.validate(name, result, start, end)
    notes: list[str] = []
    hours = {r[0] for r in v.rows}
    if len(hours) < 9 and v.rows and not v.rejected:
        # asked from start - 1 ms: every hour of [start, end] should be there, whichever the bound
        c.add("get_funding_rate_history", "www", "loss", f"{9 - len(hours)} of 9 hours missing")
        return
    c.validated("get_funding_rate_history", "www", v, what="hourly rows", notes=notes)


def _delivery(c: _Checker, currency: str) -> None:
    index_name = index_prices.index_name_for(f"{currency}-PERPETUAL")
    try:
        result = index_prices.fetch_delivery_prices(c.client, index_name, 0, 5)
    except RequestFailed as exc:
        c.add("get_delivery_prices", "www", "unreachable", str(exc))
        return
    except DeribitError as exc:
        c.add("get_delivery_prices", "www", "loss", f"error {exc.code} {exc}")
        return
    c.validated("get_delivery_prices", "www", index_prices.delivery_rows(index_name, result),
                what="daily delivery prices")


def _index(c: _Checker, currency: str) -> None:
    index_name = index_prices.index_name_for(f"{currency}-PERPETUAL")
    try:
        v = index_prices.ticker(c.client, index_name, c.now_ms)
    except RequestFailed as exc:
        c.add("get_index_price", "www", "unreachable", str(exc))
        return
    except DeribitError as exc:
        c.add("get_index_price", "www", "loss", f"error {exc.code} {exc}")
        return
    c.validated("get_index_price", "www", v, what="index price")


def _book_summary(c: _Checker, currency: str) -> None:
    ok, result = c.call("get_book_summary_by_currency", {"currency": currency, "kind": "option"})
    if not ok:
        return
    items = [i for i in result if isinstance(i, dict)] if isinstance(result, list) else []
    c.options = [i.get("instrument_name") for i in items if isinstance(i.get("instrument_name"), str)]
    v = options_chain.summary_rows(currency, result, c.now_ms)
    notes = []
    without = sum(1 for i in items if i.get("mark_iv") is None)
    if without:
        notes.append(f"{without} without mark_iv (IV recovered from the mark price)")
    no_iv = len(getattr(v, "without_iv", []))
    if no_iv:
        notes.append(f"{no_iv} whose mark says nothing about volatility (IV and greeks NULL)")
    c.validated("get_book_summary_by_currency", "www", v, what="option summaries", notes=notes)


def _ticker(c: _Checker, currency: str) -> None:
    names = c.options
    if not names:
        c.add("ticker", "www", "loss", "no option to ask about (book summary failed)")
        return
    ok, result = c.call("ticker", {"instrument_name": names[0]})
    if not ok:
        return
    v = options_chain.ticker_row(result, c.now_ms)
    notes = []
    for side in ("bid_iv", "ask_iv"):
        if isinstance(result, dict) and result.get(side) == 0:
            notes.append(f"{side} 0 (no quote on that side: stored NULL)")
    if not v.rows and getattr(v, "skipped", None):
        c.add("ticker", "www", "note", "an expired option's ticker (skipped, as designed)")
        return
    c.validated("ticker", "www", v, what="ticker snapshot", notes=notes)


def _trades(c: _Checker, currency: str) -> None:
    end = c.now_ms
    start = end - HOUR_MS
    ok, result = c.call("get_last_trades_by_currency_and_time", {
        "currency": currency, "kind": "future", "start_timestamp": start, "end_timestamp": end,
        "count": MAX_TRADES_PER_CALL, "sorting": "asc"}, host="history")
    if not ok:
        return
    method = "get_last_trades_by_currency_and_time"
    trades = result.get("trades") if isinstance(result, dict) else None
    if not isinstance(trades, list) or "has_more" not in result:
        c.add(method, "history", "loss", "answer without trades list or has_more")
        return
    index_name = index_prices.index_name_for(f"{currency}-PERPETUAL")
    missing = _missing([t for t in trades if isinstance(t, dict)], ("trade_id", "timestamp", "index_price"))
    if missing:
        c.add(method, "history", "loss", "trades without " + ", ".join(f"{k} ({n})" for k, n in missing.items()))
        return
    c.validated(method, "history", index_prices.trades_rows(index_name, trades, start, end),
                what="minute index rows from trades")


@click.command("check-api", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--currency", default="BTC", show_default=True, type=click.Choice(["BTC", "ETH"]),
              help="Which currency's instruments to ask about.")
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
def check_api_command(currency: str, as_json: bool) -> None:
    """Ask the exchange once per method the ingester uses and check each answer against what the
    parsers expect: LOSS where the ingester would lose data (exit 1), NOTE for a known variation it
    handles, UNREACHABLE when the exchange does not answer (exit 2). Uses DERIBIT_API_URL and
    DERIBIT_HISTORY_URL.

    \b
    Example:
        ingest check-api
        DERIBIT_API_URL=http://127.0.0.1:8765/api/v2 ingest check-api --json
    """
    from ingest.config import Settings

    try:
        settings = Settings.from_env()
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    client = DeribitClient.from_settings(settings, max_attempts=3)
    report = check(client, currency)
    if as_json:
        click.echo(json.dumps({"findings": [asdict(f) for f in report.findings], "exit_code": report.exit_code},
                              indent=2))
    else:
        click.echo(report.text())
    raise SystemExit(report.exit_code)
