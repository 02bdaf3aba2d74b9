"""Deribit's contract calendar and instrument names, as pure functions.

Facts encoded here (see docs/deribit-api.md, "Names and calendar"):

* Everything expires at 08:00 UTC.
* Futures: ``BTC-<D><MMM><YY>`` with the day *not* zero-padded (``BTC-5APR19``, ``BTC-27DEC24``).
  Perpetuals: ``BTC-PERPETUAL``; linear perpetuals ``BTC_USDC-PERPETUAL``.
* Options: ``BTC-27DEC24-100000-C``; linear option strikes write the decimal point as ``d``
  (``XRP_USDC-30JUN23-0d625-C``).
* Weeklies expire on Fridays, monthlies on the last Friday of the month, quarterlies on the last
  Friday of March, June, September and December. Options also have dailies.

The ingester's backfill uses these functions to reconstruct the names of contracts that
``get_instruments`` no longer lists; the simulated exchange (``ingest.sim``) uses them for its
listing schedule.  Nothing here knows *which* expiries Deribit actually listed at a given time:
the ``*_expiries`` functions enumerate the calendar, they are not a record of listings.

Public API
----------
``EXPIRY_HOUR``, ``PERPETUAL_EXPIRATION_MS``
``last_friday(year, month) -> date``
``expiry_datetime(d) -> datetime`` (08:00 UTC of a date)
``date_code(d) -> "5APR19"``; ``parse_date_code("5APR19") -> date``
``future_name(currency, expiry)``; ``perpetual_name(currency)``;
``option_name(currency, expiry, strike, option_type)``; ``format_strike(strike)``
``parse_instrument_name(name) -> InstrumentName``
``daily_expiries / weekly_expiries / monthly_expiries / quarterly_expiries(start, end)`` → list of
08:00-UTC datetimes within ``[start, end]`` (inclusive), ascending.
``expiry_class(d) -> "quarter"|"month"|"week"|"day"`` and ``settlement_period(d)``.
``to_ms(dt)`` / ``from_ms(ms)``.
"""

from __future__ import annotations

import calendar as _calendar
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal

__all__ = [
    "EXPIRY_HOUR",
    "base_currency_of",
    "PERPETUAL_EXPIRATION_MS",
    "MONTHS",
    "InstrumentName",
    "last_friday",
    "expiry_datetime",
    "date_code",
    "parse_date_code",
    "future_name",
    "perpetual_name",
    "option_name",
    "format_strike",
    "parse_strike",
    "parse_instrument_name",
    "daily_expiries",
    "weekly_expiries",
    "monthly_expiries",
    "quarterly_expiries",
    "expiry_class",
    "settlement_period",
    "to_ms",
    "from_ms",
]

EXPIRY_HOUR = 8
"""Every Deribit future and option expires at 08:00 UTC."""

PERPETUAL_EXPIRATION_MS = 32503708800000
"""``expiration_timestamp`` Deribit reports for perpetuals (3000-01-01T00:00:00Z)."""

MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_MONTH_INDEX = {m: i + 1 for i, m in enumerate(MONTHS)}
QUARTER_MONTHS = (3, 6, 9, 12)
FRIDAY = 4  # date.weekday()

_DATE_CODE_RE = re.compile(r"^([1-9][0-9]?)(JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC)([0-9]{2})$")
_CURRENCY_RE = re.compile(r"^[A-Z0-9]+(?:_[A-Z0-9]+)?$")


# --------------------------------------------------------------------------- time helpers

def to_ms(dt: date | datetime) -> int:
    """Milliseconds since the epoch of a datetime (naive = UTC) or of a date's UTC midnight."""
    return int(round(_as_utc(dt).timestamp() * 1000))


def base_currency_of(name: str) -> str:
    """'BTC' of 'BTC', 'BTC-PERPETUAL', 'BTC-27DEC24', 'BTC_USDC-PERPETUAL', 'btc_usd' (no check)."""
    return name.split("-")[0].split("_")[0].upper()


def from_ms(ms: int) -> datetime:
    """Aware UTC datetime of epoch milliseconds."""
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


def _as_date(value: date | datetime) -> date:
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(timezone.utc)
        return value.date()
    return value


def _as_utc(value: date | datetime) -> datetime:
    if isinstance(value, datetime):
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
    return datetime.combine(value, time(0), tzinfo=timezone.utc)


def expiry_datetime(d: date | datetime) -> datetime:
    """08:00 UTC on the (UTC) date of ``d``: the expiry instant of contracts expiring that day."""
    return datetime.combine(_as_date(d), time(EXPIRY_HOUR), tzinfo=timezone.utc)


# --------------------------------------------------------------------------- calendar

def last_friday(year: int, month: int) -> date:
    """The last Friday of a month (monthly and quarterly expiry day)."""
    last_day = _calendar.monthrange(year, month)[1]
    d = date(year, month, last_day)
    return d - timedelta(days=(d.weekday() - FRIDAY) % 7)


def expiry_class(d: date | datetime) -> str:
    """The longest cycle an expiry date belongs to: ``quarter``, ``month``, ``week`` or ``day``."""
    d = _as_date(d)
    if d.weekday() != FRIDAY:
        return "day"
    if d == last_friday(d.year, d.month):
        return "quarter" if d.month in QUARTER_MONTHS else "month"
    return "week"


def settlement_period(d: date | datetime) -> str:
    """Deribit's ``settlement_period`` for a contract expiring on ``d``.

    Deribit reports quarterlies as ``month`` (there is no ``quarter`` value)."""
    cls = expiry_class(d)
    return "month" if cls == "quarter" else cls


def _expiry_range(start: date | datetime, end: date | datetime):
    """Candidate expiry dates whose 08:00 UTC instant lies within [start, end]."""
    s, e = _as_utc(start), _as_utc(end)
    d = s.date()
    if expiry_datetime(d) < s:
        d += timedelta(days=1)
    return d, e


def daily_expiries(start: date | datetime, end: date | datetime) -> list[datetime]:
    """Every day's 08:00 UTC expiry instant in [start, end] (options dailies; includes Fridays)."""
    d, e = _expiry_range(start, end)
    out = []
    while expiry_datetime(d) <= e:
        out.append(expiry_datetime(d))
        d += timedelta(days=1)
    return out


def weekly_expiries(start: date | datetime, end: date | datetime) -> list[datetime]:
    """Every Friday 08:00 UTC in [start, end] (includes the monthly and quarterly Fridays)."""
    d, e = _expiry_range(start, end)
    d += timedelta(days=(FRIDAY - d.weekday()) % 7)
    out = []
    while expiry_datetime(d) <= e:
        out.append(expiry_datetime(d))
        d += timedelta(days=7)
    return out


def monthly_expiries(start: date | datetime, end: date | datetime) -> list[datetime]:
    """Last Friday of every month, 08:00 UTC, in [start, end] (includes quarterlies)."""
    s, e = _as_utc(start), _as_utc(end)
    y, m = s.year, s.month
    out = []
    while (y, m) <= (e.year, e.month):
        x = expiry_datetime(last_friday(y, m))
        if s <= x <= e:
            out.append(x)
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def quarterly_expiries(start: date | datetime, end: date | datetime) -> list[datetime]:
    """Last Friday of March, June, September and December, 08:00 UTC, in [start, end]."""
    return [x for x in monthly_expiries(start, end) if x.month in QUARTER_MONTHS]


# --------------------------------------------------------------------------- names

def date_code(d: date | datetime) -> str:
    """Deribit's expiry code: day without zero padding, month abbreviation, 2-digit year (``5APR19``)."""
    d = _as_date(d)
    return f"{d.day}{MONTHS[d.month - 1]}{d.year % 100:02d}"


def parse_date_code(code: str) -> date:
    """Inverse of :func:`date_code`. Raises ValueError on anything else (e.g. zero-padded days)."""
    m = _DATE_CODE_RE.match(code)
    if not m:
        raise ValueError(f"not a Deribit expiry code: {code!r}")
    return date(2000 + int(m.group(3)), _MONTH_INDEX[m.group(2)], int(m.group(1)))


def _check_currency(currency: str) -> str:
    if not _CURRENCY_RE.match(currency):
        raise ValueError(f"not a Deribit currency: {currency!r}")
    return currency


def perpetual_name(currency: str) -> str:
    """``BTC-PERPETUAL``; ``BTC_USDC-PERPETUAL`` for a linear one."""
    return f"{_check_currency(currency)}-PERPETUAL"


def future_name(currency: str, expiry: date | datetime) -> str:
    """``future_name("BTC", date(2019, 4, 5)) == "BTC-5APR19"``."""
    return f"{_check_currency(currency)}-{date_code(expiry)}"


def format_strike(strike: float | int | str | Decimal) -> str:
    """Strike as it appears in a name: integers plain, decimals with ``d`` for the point."""
    dec = Decimal(str(strike))
    if dec <= 0:
        raise ValueError(f"strike must be positive: {strike!r}")
    if dec == dec.to_integral_value():
        return str(int(dec))
    text = format(dec.normalize(), "f")
    return text.replace(".", "d")


def parse_strike(text: str) -> float:
    """Inverse of :func:`format_strike` (``"0d625"`` → 0.625)."""
    if not re.fullmatch(r"[0-9]+(d[0-9]+)?", text):
        raise ValueError(f"not a Deribit strike: {text!r}")
    return float(text.replace("d", "."))


def option_name(currency: str, expiry: date | datetime, strike: float | int | str, option_type: str) -> str:
    """``option_name("BTC", date(2024, 12, 27), 100000, "call") == "BTC-27DEC24-100000-C"``.

    ``option_type`` is ``call``/``put`` (or ``C``/``P``)."""
    t = option_type.lower()
    letter = {"call": "C", "c": "C", "put": "P", "p": "P"}.get(t)
    if letter is None:
        raise ValueError(f"option_type must be call or put: {option_type!r}")
    return f"{_check_currency(currency)}-{date_code(expiry)}-{format_strike(strike)}-{letter}"


@dataclass(frozen=True)
class InstrumentName:
    """A parsed instrument name.

    ``currency`` is the name's first part (``BTC`` or ``BTC_USDC``); ``base_currency`` the part
    before ``_``; ``kind`` is ``future`` (perpetuals included) or ``option``. ``expiry`` is the
    08:00 UTC expiry instant, None for perpetuals."""

    name: str
    currency: str
    base_currency: str
    quote_currency: str | None
    kind: str
    is_perpetual: bool
    expiry: datetime | None
    strike: float | None = None
    option_type: str | None = None  # "call" | "put"

    @property
    def linear(self) -> bool:
        return "_" in self.currency

    @property
    def expiration_timestamp(self) -> int:
        return PERPETUAL_EXPIRATION_MS if self.expiry is None else to_ms(self.expiry)


def parse_instrument_name(name: str) -> InstrumentName:
    """Parse a Deribit future, perpetual or option name. Raises ValueError if it is none of these.

    >>> parse_instrument_name("BTC-27DEC24-100000-C").strike
    100000.0
    """
    parts = name.split("-")
    if len(parts) not in (2, 4):
        raise ValueError(f"not a Deribit future or option name: {name!r}")
    currency = _check_currency(parts[0])
    base, _, quote = currency.partition("_")
    quote = quote or None
    if len(parts) == 2:
        if parts[1] == "PERPETUAL":
            return InstrumentName(name, currency, base, quote, "future", True, None)
        return InstrumentName(name, currency, base, quote, "future", False,
                              expiry_datetime(parse_date_code(parts[1])))
    expiry = expiry_datetime(parse_date_code(parts[1]))
    strike = parse_strike(parts[2])
    if parts[3] not in ("C", "P"):
        raise ValueError(f"option type must be C or P: {name!r}")
    if format_strike(parts[2].replace("d", ".")) != parts[2]:
        raise ValueError(f"non-canonical strike in {name!r}")
    return InstrumentName(name, currency, base, quote, "option", False, expiry, strike,
                          "call" if parts[3] == "C" else "put")
