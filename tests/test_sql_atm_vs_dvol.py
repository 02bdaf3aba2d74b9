"""atm_vs_dvol_1h: the chain's 30-day ATM volatility beside DVOL, hour by hour, readable by analyst."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

from ingest.storage import caggs


def test_the_30_day_atm_sits_beside_dvol_hour_by_hour(db):
    h = datetime(2019, 1, 7, 12, tzinfo=timezone.utc)
    # the analytics tables are no dataset's: the test database's wipe leaves them; clear these hours
    db.execute("DELETE FROM vol_surface_cm_1h WHERE ts >= %s AND ts < %s + interval '2 hours'", (h, h))
    db.execute("INSERT INTO vol_surface_cm_1h (ts, currency, atm_iv_30d) VALUES (%s, 'BTC', 48.126), "
               "(%s + interval '1 hour', 'BTC', 49.0)", (h, h))
    try:
        # DVOL minutes of the first hour: the hour's last close counts (51.3); none in the second hour
        db.execute("INSERT INTO dvol (ts, currency, open, high, low, close) VALUES "
                   "(%s, 'BTC', 50.0, 50.5, 49.9, 50.2), (%s + interval '59 minutes', 'BTC', 51.0, 51.4, 50.9, 51.3)",
                   (h, h))
        caggs.refresh_pending(db)  # nothing pending from a plain INSERT: the aggregate answers in real time
        with db.transaction():
            db.execute("SET LOCAL ROLE analyst")
            rows = db.execute("SELECT ts, currency, atm_iv_30d, dvol, spread FROM atm_vs_dvol_1h ORDER BY ts"
                              ).fetchall()
    finally:
        db.execute("DELETE FROM vol_surface_cm_1h WHERE ts >= %s AND ts < %s + interval '2 hours'", (h, h))
    assert rows == [(h, "BTC", Decimal("48.13"), Decimal("51.30"), Decimal("-3.17"))]
