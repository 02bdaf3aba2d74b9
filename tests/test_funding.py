"""ingest.datasets.funding: validation of funding rows, backwards paging, idempotent load."""

from __future__ import annotations

import math
from collections import Counter

from ingest.backfill import backfill
from ingest.datasets import funding
from ingest.deribit.quirks import FUNDING_ROWS_PER_CALL, HOUR_MS

T = 1717200000000  # 2024-06-01T00:00Z


def row(ts, price=67500.0, i1=5e-6):
    return {"timestamp": ts, "index_price": price, "prev_index_price": price - 1, "interest_8h": i1 * 8,
            "interest_1h": i1}


def test_window_bounds_cover_744_hours_ending_at_the_last_full_hour():
    start, end = funding.window_bounds(T + 59 * 60_000)
    assert end == T and (end - start) // HOUR_MS + 1 == FUNDING_ROWS_PER_CALL


def test_bad_rows_are_rejected_with_a_reason_and_good_rows_kept():
    payload = [row(T), row(T + HOUR_MS, price=math.nan), row(T + 2 * HOUR_MS, price=-1.0),
               {"timestamp": "x"}, row(T + 3 * HOUR_MS, i1=math.inf), row(T + 4 * HOUR_MS), row(T + 4 * HOUR_MS)]
    v = funding.validate("BTC-PERPETUAL", payload)
    assert [r[0].timestamp() * 1000 for r in v.rows] == [T, T + 4 * HOUR_MS]
    reasons = [r.reason for r in v.rejected]
    assert reasons == ["index_price is not finite", "index_price is not positive", "timestamp is not an integer",
                       "interest_8h is not a finite number"]
    assert v.rejected[0].payload["index_price"] == "nan"  # jsonb-safe


def test_negative_interest_is_valid_and_the_range_filters():
    v = funding.validate("BTC-PERPETUAL", [row(T, i1=-1e-5), row(T + HOUR_MS)], end_ms=T)
    assert len(v.rows) == 1 and v.rows[0][2] == -1e-5


class FakeClient:
    """Answers like Deribit: at most 744 rows counted back from end_timestamp, none before `first`, the
    row at start_timestamp left out (the real API's bound is exclusive); its clock is T."""

    def __init__(self, first):
        self.first, self.calls = first, []
        self.stats = Counter()

    def call(self, method, params=None, host="www"):
        if method == "get_time":
            return T
        self.calls.append(params)
        end = params["end_timestamp"] - params["end_timestamp"] % HOUR_MS
        start = max(params["start_timestamp"] + 1, self.first, end - (FUNDING_ROWS_PER_CALL - 1) * HOUR_MS)
        start = -(-start // HOUR_MS) * HOUR_MS
        return [row(t) for t in range(start, end + 1, HOUR_MS)]


def test_paging_backwards_reaches_the_first_hour_and_stops_on_an_empty_answer(db):
    first = T - 2000 * HOUR_MS
    client = FakeClient(first)
    r = backfill("funding", client, db, instruments=["BTC-PERPETUAL"], tty=False, echo=lambda _: None)
    assert r.ok
    stamps = [t for (t,) in db.execute("SELECT (extract(epoch FROM ts) * 1000)::bigint FROM funding_rates "
                                       "ORDER BY ts")]
    assert stamps == list(range(first, T + 1, HOUR_MS))
    # paged back to an empty window (the start of the history), not on to 2018: a window or two of
    # look-ahead at most (windows that stop their series run at most 2 ahead)
    window = FUNDING_ROWS_PER_CALL * HOUR_MS
    assert min(c["start_timestamp"] for c in client.calls) >= first - 3 * window
    assert len(client.calls) <= r.stats.windows_done + 2


def test_loads_every_hour_once_and_is_idempotent(db):
    client = FakeClient(T - 1000 * HOUR_MS)
    r = backfill("funding", client, db, instruments=["BTC-PERPETUAL"], since_ms=T - 900 * HOUR_MS,
                 tty=False, echo=lambda _: None)
    assert r.stats.rows["funding_rates"] == 901 and r.stats.quarantined == 0
    again = backfill("funding", client, db, instruments=["BTC-PERPETUAL"], since_ms=T - 900 * HOUR_MS,
                     restart=True, tty=False, echo=lambda _: None)
    assert again.stats.rows["funding_rates"] == 0
    assert db.execute("SELECT count(*), count(DISTINCT ts) FROM funding_rates").fetchone() == (901, 901)
