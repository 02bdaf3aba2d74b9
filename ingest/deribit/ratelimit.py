"""Client-side mirror of Deribit's credit rules, shared by every request a process sends.

Deribit gives each client a pool of credits (50,000) refilled at 10,000 per second; a public request
costs 500. We spend from a local bucket with the same numbers (times `share`, so a live collector can
leave room for a backfill) and wait when it is empty instead of being answered 10028.
"""

from __future__ import annotations

import threading
import time


class CreditLimiter:
    def __init__(self, pool: float = 50_000, refill_per_s: float = 10_000, cost: float = 500,
                 share: float = 1.0, clock=time.monotonic, sleep=time.sleep):
        if not 0 < share <= 1:
            raise ValueError(f"rate share must be in (0, 1], got {share}")
        self.capacity = pool * share
        self.refill = refill_per_s * share
        self.cost = cost
        self._tokens = self.capacity
        self._clock = clock
        self._sleep = sleep
        self._last = clock()
        self._lock = threading.Lock()
        self.waited_s = 0.0

    @property
    def requests_per_s(self) -> float:
        return self.refill / self.cost

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.refill)
        self._last = now

    def acquire(self, cost: float | None = None) -> None:
        """Block until `cost` credits are available, then spend them."""
        cost = self.cost if cost is None else cost
        while True:
            with self._lock:
                self._refill()
                if self._tokens >= cost:
                    self._tokens -= cost
                    return
                wait = (cost - self._tokens) / self.refill
            self.waited_s += wait
            self._sleep(wait)

    def drain(self) -> None:
        """The exchange said 10028: our view was too optimistic (another client shares the address)."""
        with self._lock:
            self._refill()
            self._tokens = 0.0


class IntervalLimiter:
    """At most one call per `interval` seconds (Deribit's separate limit on get_instruments)."""

    def __init__(self, interval: float, clock=time.monotonic, sleep=time.sleep):
        self.interval = interval
        self._clock = clock
        self._sleep = sleep
        self._next = 0.0
        self._lock = threading.Lock()

    def acquire(self) -> None:
        with self._lock:
            now = self._clock()
            start = max(now, self._next)
            self._next = start + self.interval
        if start > now:
            self._sleep(start - now)
