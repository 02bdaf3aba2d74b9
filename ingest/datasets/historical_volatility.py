"""Historical (realised) volatility of BTC and ETH, hourly, into `historical_volatility`: forward-only.

Source: get_historical_volatility(currency) → [[ms, percent], ...], hourly points over the last ~16
days, oldest first, with the first point repeated (a real capture; the simulator does the same). No
parameter reaches further back: a point exists in the database only if a run stored it while it was
among the last 16 days. An outage of the collector shorter than that loses nothing (the next run stores
every point not yet stored); a longer one leaves a gap that can never be filled, and `ingest status`
shows it (sql/queries/freshness_historical_volatility.sql).

Sample result:
    [[1640142000000, 63.828320460740585], [1640142000000, 63.828320460740585],
     [1640145600000, 64.03821964123213]]

Live (job 'historical_volatility', hourly): fetch, drop the repeated point, store the points not yet
stored (a point stored once is never rewritten); while the database does not answer, into the spool.
No backfill.
"""

from __future__ import annotations

from typing import Any

from ingest.datasets.base import Dataset, Freshness, Live
from ingest.deribit.quirks import HOUR_MS
from ingest.storage.tables import TS, TableSpec
from ingest.storage.validate import Rejected, Validated, finite_number, json_safe, ms_to_datetime

NAME = "historical_volatility"

HISTORICAL_VOLATILITY = TableSpec(
    "historical_volatility",
    (("ts", TS), ("currency", "text"), ("volatility", "double precision")),
    ("currency", "ts"),
)


def validate(currency: str, result: Any) -> Validated:
    """Rows (ts, currency, volatility), one per timestamp: a point repeated with the same value is the
    exchange's known duplicate (dropped); repeated with another value, both are rejected."""
    out = Validated()
    if not isinstance(result, list):
        if result not in (None, []):
            out.rejected.append(Rejected(NAME, currency, "result is not a list", json_safe(result), whole=True))
        return out
    first: dict[int, float] = {}
    conflicting: set[int] = set()
    for point in result:
        if not isinstance(point, list) or len(point) != 2:
            out.rejected.append(Rejected(NAME, currency, "point is not [timestamp, value]", json_safe(point),
                                         whole=True))
            continue
        ts, value = point
        if not isinstance(ts, int) or isinstance(ts, bool) or not finite_number(value):
            out.rejected.append(Rejected(NAME, currency, "timestamp is not an integer or value not a finite number",
                                         json_safe(point), whole=True))
            continue
        if ts % HOUR_MS:
            out.rejected.append(Rejected(NAME, currency, "timestamp not on the hour", json_safe(point)))
            continue
        if value < 0:
            out.rejected.append(Rejected(NAME, currency, "negative volatility", json_safe(point)))
            continue
        if ts in first:
            if first[ts] != value:
                conflicting.add(ts)
            continue
        first[ts] = value
    for ts in sorted(conflicting):
        out.rejected.append(Rejected(NAME, currency, "one hour with two different values",
                                     [[ts, first.pop(ts)]] + [p for p in result if isinstance(p, list) and p
                                                               and p[0] == ts]))
    out.rows = [(ms_to_datetime(ts), currency, v) for ts, v in sorted(first.items())]
    return out


def not_stored(conn, currency: str, validated: Validated) -> Validated:
    """The rows whose hour is not stored yet (a stored point is never rewritten)."""
    from ingest.storage.sqlfiles import query

    if not validated.rows:
        return validated
    stored = {ts for (ts,) in conn.execute(query("historical_volatility_stored"), {
        "currency": currency, "first": validated.rows[0][0], "last": validated.rows[-1][0]})}
    return Validated([r for r in validated.rows if r[0] not in stored], validated.rejected)


def live_job(ctx, client, minute_ms: int):
    """Each currency: fetch the last ~16 days, store the hours not stored yet. Forward-only: while the
    database does not answer, the whole answer goes to the spool (loading it again changes nothing)."""
    from ingest.live.jobs import API_ERRORS, JobResult, fetch_clean, may_write_db, store_forward_only
    from ingest.live.writes import connection_problem

    r = JobResult(expected=True)
    new = 0
    for currency in ctx.config.currencies:
        def fetch(currency: str = currency) -> Validated:
            return validate(currency, client.call("get_historical_volatility", {"currency": currency}))
        try:
            v = fetch_clean(fetch)
        except API_ERRORS as exc:
            r.fail(f"{currency} historical volatility", exc)
            continue
        offered = len(v.rows)
        if may_write_db(ctx):
            try:
                with ctx.connect() as conn:
                    v = not_stored(conn, currency, v)
            except Exception as exc:
                if not connection_problem(exc):
                    raise
        new += len(v.rows)
        store_forward_only(ctx, NAME, HISTORICAL_VOLATILITY, v, minute_ms, r)
        # the hours stored by earlier runs are held too: a run that found nothing new is 'ok'
        r.stored += offered - len(v.rows)
    r.detail = f"new_points={new}"
    return r


DATASET = Dataset(
    name=NAME,
    description="hourly historical (realised) volatility of BTC and ETH; forward-only: the exchange keeps "
                "about 16 days",
    tables=(HISTORICAL_VOLATILITY,),
    order=58,
    forward_only=True,
    live=Live(job=live_job, schedule={"minute": 2, "second": 35}, on_takeover=True, spool=True),
    freshness=Freshness(query="freshness_historical_volatility", expected=("BTC", "ETH")),
)
