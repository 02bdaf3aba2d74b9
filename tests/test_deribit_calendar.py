from datetime import date, datetime, timezone

import pytest

from ingest.deribit import calendar as cal

UTC = timezone.utc


def test_last_friday_known_dates():
    # Known Deribit quarterly expiries.
    assert cal.last_friday(2019, 3) == date(2019, 3, 29)
    assert cal.last_friday(2024, 12) == date(2024, 12, 27)
    assert cal.last_friday(2021, 12) == date(2021, 12, 31)
    assert cal.last_friday(2023, 6) == date(2023, 6, 30)
    for y in range(2018, 2030):
        for m in range(1, 13):
            d = cal.last_friday(y, m)
            assert d.weekday() == 4 and d.month == m and (d.day + 7) > 28 and d.replace(day=1).month == m
            assert (date(y + (m == 12), m % 12 + 1, 1) - d).days <= 7


def test_names_roundtrip():
    assert cal.future_name("BTC", date(2019, 4, 5)) == "BTC-5APR19"
    assert cal.future_name("BTC", datetime(2024, 12, 27, 8, tzinfo=UTC)) == "BTC-27DEC24"
    assert cal.option_name("BTC", date(2024, 12, 27), 100000, "call") == "BTC-27DEC24-100000-C"
    assert cal.option_name("XRP_USDC", date(2023, 6, 30), 0.625, "C") == "XRP_USDC-30JUN23-0d625-C"
    assert cal.perpetual_name("BTC_USDC") == "BTC_USDC-PERPETUAL"
    p = cal.parse_instrument_name("XRP_USDC-30JUN23-0d625-C")
    assert (p.kind, p.strike, p.option_type, p.base_currency, p.quote_currency, p.linear) == (
        "option", 0.625, "call", "XRP", "USDC", True)
    assert p.expiry == datetime(2023, 6, 30, 8, tzinfo=UTC)
    f = cal.parse_instrument_name("BTC-5APR19")
    assert f.kind == "future" and not f.is_perpetual and f.expiration_timestamp == 1554451200000
    perp = cal.parse_instrument_name("ETH-PERPETUAL")
    assert perp.is_perpetual and perp.expiry is None and perp.expiration_timestamp == 32503708800000


@pytest.mark.parametrize("bad", ["BTC-05APR19", "BTC-5APR2019", "BTC", "BTC-5APR19-100-X", "BTC-5XYZ19",
                                 "btc-PERPETUAL", "BTC-5APR19-0100-C", "BTC-5APR19-1.5-C", "BTC-32JAN19"])
def test_parse_rejects(bad):
    with pytest.raises(ValueError):
        cal.parse_instrument_name(bad)


def test_expiry_lists():
    start = datetime(2024, 1, 1, tzinfo=UTC)
    end = datetime(2024, 12, 31, tzinfo=UTC)
    q = cal.quarterly_expiries(start, end)
    assert [x.date() for x in q] == [date(2024, 3, 29), date(2024, 6, 28), date(2024, 9, 27), date(2024, 12, 27)]
    assert all(x.hour == 8 and x.tzinfo is not None for x in q)
    m = cal.monthly_expiries(start, end)
    assert len(m) == 12 and set(q) <= set(m)
    w = cal.weekly_expiries(start, end)
    assert len(w) == 52 and set(m) <= set(w) and all(x.weekday() == 4 for x in w)
    d = cal.daily_expiries(start, end)
    assert len(d) == 365 and set(w) <= set(d)  # 2024-12-31 08:00 is after `end` (midnight)
    # bounds are inclusive on the 08:00 instant
    x = datetime(2024, 3, 29, 8, tzinfo=UTC)
    assert cal.quarterly_expiries(x, x) == [x]
    assert cal.weekly_expiries(datetime(2024, 3, 29, 8, 0, 1, tzinfo=UTC), datetime(2024, 4, 5, 8, tzinfo=UTC)) == [
        datetime(2024, 4, 5, 8, tzinfo=UTC)]


def test_expiry_class_and_period():
    assert cal.expiry_class(date(2024, 3, 29)) == "quarter"
    assert cal.settlement_period(date(2024, 3, 29)) == "month"
    assert cal.expiry_class(date(2024, 4, 26)) == "month"
    assert cal.expiry_class(date(2024, 4, 19)) == "week"
    assert cal.settlement_period(date(2024, 4, 19)) == "week"
    assert cal.expiry_class(date(2024, 4, 18)) == "day"


def test_ms_helpers():
    dt = datetime(2024, 6, 1, tzinfo=UTC)
    assert cal.to_ms(dt) == 1717200000000
    assert cal.from_ms(1717200000000) == dt
    assert cal.date_code(date(2024, 6, 1)) == "1JUN24"
    assert cal.parse_date_code("1JUN24") == date(2024, 6, 1)
