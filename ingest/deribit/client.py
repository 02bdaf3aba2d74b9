"""A synchronous JSON-RPC-over-HTTP client for Deribit's public API.

Every request goes through one CreditLimiter. Errors are decided by the JSON-RPC `error.code` in the
body (Deribit answers errors with HTTP 400, rate limiting with 400 or 429), never by status alone:

* 10028 too_many_requests -> our bucket is drained and the request waits for the refill;
* transient codes (11094, 10041 settlement, ...), HTTP 5xx, timeouts, resets, truncated or malformed
  bodies -> retried with capped exponential backoff and full jitter;
* anything else (e.g. -32602 Invalid params) -> DeribitError at once: retrying cannot help.

Sample error body (HTTP 400):
    {"jsonrpc":"2.0","error":{"code":-32602,"message":"Invalid params",
     "data":{"reason":"instrument not found","param":"instrument_name"}},"usIn":..,"testnet":false}
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections import Counter
from typing import Any

import orjson
import requests

from ingest.deribit import quirks
from ingest.deribit.ratelimit import CreditLimiter, IntervalLimiter

log = logging.getLogger(__name__)


class DeribitError(Exception):
    """The API answered with a JSON-RPC error that retrying will not fix."""

    def __init__(self, code: int, message: str, data: Any = None, method: str = ""):
        self.code, self.message, self.data, self.method = code, message, data, method
        reason = f" ({data.get('reason')}: {data.get('param')})" if isinstance(data, dict) else ""
        super().__init__(f"{method}: error {code} {message}{reason}")

    @property
    def reason(self) -> str | None:
        return self.data.get("reason") if isinstance(self.data, dict) else None

    @property
    def instrument_not_found(self) -> bool:
        return self.code == quirks.INVALID_PARAMS and self.reason == quirks.INSTRUMENT_NOT_FOUND


class RequestFailed(Exception):
    """Retries exhausted on transient failures; `last` is the last cause."""

    def __init__(self, method: str, attempts: int, last: str):
        self.method, self.attempts, self.last = method, attempts, last
        super().__init__(f"{method}: failed after {attempts} attempts: {last}")


class _Transient(Exception):
    pass


def _encode(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def parse_body(raw: bytes) -> Any:
    """orjson for speed; the stdlib parser as a fallback because it accepts NaN/Infinity, which must
    reach validation (and quarantine) rather than be mistaken for a transport fault."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return json.loads(raw)


# weight of the newest request in the round-trip moving average
ROUND_TRIP_SMOOTHING = 0.2


class DeribitClient:
    HOSTS = ("www", "history")

    def __init__(self, api_url: str, history_url: str, *, limiter: CreditLimiter | None = None,
                 timeout: float = 10.0, max_attempts: int = 6, max_rate_limited: int = 30,
                 backoff_base: float = 0.25, backoff_cap: float = 20.0,
                 instruments_interval: float = 1.0, session: requests.Session | None = None):
        self.urls = {"www": api_url.rstrip("/"), "history": history_url.rstrip("/")}
        self.limiter = limiter or CreditLimiter()
        self.instruments_limiter = IntervalLimiter(instruments_interval)
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.max_rate_limited = max_rate_limited
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self._local = threading.local()
        self._shared_session = session
        self._stats_lock = threading.Lock()
        self.stats: Counter = Counter()
        # moving average of one request's round trip (network + the exchange's time to answer): how
        # many requests must be in flight to use the rate budget (see backfill.engine.Concurrency)
        self.round_trip_s: float | None = None

    @classmethod
    def from_settings(cls, settings, *, share: float | None = None, **kwargs) -> "DeribitClient":
        limiter = CreditLimiter(settings.credit_pool, settings.credit_refill, settings.request_cost,
                                share if share is not None else settings.rate_share)
        return cls(settings.api_url, settings.history_url, limiter=limiter,
                   timeout=settings.http_timeout, **kwargs)

    # one requests.Session per thread: sessions are not guaranteed thread-safe
    @property
    def session(self) -> requests.Session:
        if self._shared_session is not None:
            return self._shared_session
        s = getattr(self._local, "session", None)
        if s is None:
            s = self._local.session = requests.Session()
        return s

    def _count(self, key: str, n: int = 1) -> None:
        with self._stats_lock:
            self.stats[key] += n

    def call(self, method: str, params: dict | None = None, *, host: str = "www") -> Any:
        """Call public/<method> and return its `result`."""
        if host not in self.HOSTS:
            raise ValueError(f"host must be one of {self.HOSTS}")
        url = f"{self.urls[host]}/public/{method}"
        query = {k: _encode(v) for k, v in (params or {}).items() if v is not None}
        attempts = rate_limited = 0
        last = ""
        while True:
            if method == "get_instruments":
                self.instruments_limiter.acquire()
            self.limiter.acquire()
            attempts += 1
            self._count("requests")
            try:
                return self._once(url, method, query)
            except _Transient as exc:
                last = str(exc)
                if "too_many_requests" in last:
                    rate_limited += 1
                    self._count("rate_limited")
                    self.limiter.drain()
                    if rate_limited >= self.max_rate_limited:
                        raise RequestFailed(method, attempts, last) from None
                    attempts -= 1  # waiting for credits is not a failed attempt
                    continue
                self._count("retries")
                if attempts >= self.max_attempts:
                    self._count("failures")
                    raise RequestFailed(method, attempts, last) from None
                delay = random.uniform(0, min(self.backoff_cap, self.backoff_base * 2 ** (attempts - 1)))
                log.debug("retrying %s in %.2fs after: %s", method, delay, last)
                time.sleep(delay)

    def _observe_round_trip(self, seconds: float) -> None:
        with self._stats_lock:
            prev = self.round_trip_s
            self.round_trip_s = seconds if prev is None else prev + ROUND_TRIP_SMOOTHING * (seconds - prev)

    def _once(self, url: str, method: str, query: dict) -> Any:
        try:
            t0 = time.monotonic()
            resp = self.session.get(url, params=query, timeout=(min(5.0, self.timeout), self.timeout))
            raw = resp.content
            self._observe_round_trip(time.monotonic() - t0)
        except requests.Timeout:
            raise _Transient("timeout") from None
        except requests.RequestException as exc:
            raise _Transient(f"connection error: {type(exc).__name__}") from None
        if resp.status_code >= 500:
            raise _Transient(f"HTTP {resp.status_code}")
        try:
            body = parse_body(raw)
        except ValueError:
            raise _Transient(f"malformed JSON body (HTTP {resp.status_code}, {len(raw)} bytes)") from None
        if not isinstance(body, dict):
            raise _Transient("body is not a JSON-RPC object")
        error = body.get("error")
        if error is not None:
            code = error.get("code") if isinstance(error, dict) else None
            message = error.get("message", "") if isinstance(error, dict) else str(error)
            if code == quirks.TOO_MANY_REQUESTS:
                raise _Transient("too_many_requests")
            if code in quirks.RETRYABLE_CODES or not isinstance(code, int):
                raise _Transient(f"error {code} {message}")
            self._count("errors")
            raise DeribitError(code, message, error.get("data"), method)
        if resp.status_code != 200 or "result" not in body:
            raise _Transient(f"HTTP {resp.status_code} without a result")
        return body["result"]
