"""1-minute candles of one instrument: windows of at most 5,000 candles, fetched from the main host
or, for an archived expired contract, the history host; validated; loaded with COPY + upsert.

Used by the backfill (long ranges, window by window) and by the live collector (the last minutes and
any catch-up after downtime) alike.
"""

from __future__ import annotations

from typing import Iterator

import psycopg

from ingest.deribit.client import DeribitClient, DeribitError
from ingest.deribit.quirks import CHART_LOWER_BOUND_SLACK_MS, MAX_CANDLES_PER_CALL, MINUTE_MS
from ingest.storage.load import load_validated
from ingest.storage.tables import OPTIONS_OHLCV, TableSpec
from ingest.storage.validate import CandleColumns, Rejected, Validated, chart_candle_columns, chart_candles


def windows(start_ms: int, end_ms: int, per_call: int = MAX_CANDLES_PER_CALL,
            step_ms: int = MINUTE_MS) -> Iterator[tuple[int, int]]:
    """Inclusive [first, last] minute windows covering [start_ms, end_ms], each ≤ per_call candles."""
    first = -(-start_ms // step_ms) * step_ms
    last = end_ms - end_ms % step_ms
    while first <= last:
        window_end = min(last, first + (per_call - 1) * step_ms)
        yield first, window_end
        first = window_end + step_ms


class CandleFetcher:
    """Fetches chart data, remembering per instrument which host serves it."""

    def __init__(self, client: DeribitClient):
        self.client = client
        self._host: dict[str, str] = {}

    def host_for(self, instrument: str) -> str:
        return self._host.get(instrument, "www")

    def prefer_history(self, instrument: str) -> None:
        """Ask the history host first for this instrument (known to be archived, e.g. by a probe)."""
        self._host[instrument] = "history"

    def fetch(self, instrument: str, start_ms: int, end_ms: int) -> tuple[object, str]:
        params = {
            "instrument_name": instrument,
            # the lower bound may be exclusive on Deribit: ask from 1 ms earlier, filter afterwards
            "start_timestamp": start_ms - CHART_LOWER_BOUND_SLACK_MS,
            "end_timestamp": end_ms,
            "resolution": "1",
        }
        host = self.host_for(instrument)
        try:
            return self.client.call("get_tradingview_chart_data", params, host=host), host
        except DeribitError as exc:
            if host == "www" and exc.instrument_not_found:
                # expired and archived: the history host serves its chart data
                self.prefer_history(instrument)
                return self.client.call("get_tradingview_chart_data", params, host="history"), "history"
            raise

    def fetch_validated(self, dataset: str, instrument: str, start_ms: int, end_ms: int
                        ) -> tuple[Validated, str]:
        result, host = self.fetch(instrument, start_ms, end_ms)
        return chart_candles(dataset, instrument, result, start_ms, end_ms), host

    def fetch_columns(self, dataset: str, instrument: str, start_ms: int, end_ms: int
                      ) -> tuple[CandleColumns, list[Rejected], str]:
        """Like fetch_validated (same checks), the valid candles as columns (cheap to COPY)."""
        result, host = self.fetch(instrument, start_ms, end_ms)
        columns, rejected = chart_candle_columns(dataset, instrument, result, start_ms, end_ms)
        return columns, rejected, host


def load(conn: psycopg.Connection, spec: TableSpec, validated: Validated) -> tuple[int, int]:
    """Load validated candles and quarantine the rejects in one transaction. Options keep only
    candles with trades: a filler candle of an option that has not traded carries no information."""
    rows = [r for r in validated.rows if r[6] > 0] if spec is OPTIONS_OHLCV else validated.rows
    return load_validated(conn, spec, validated, rows=rows)
