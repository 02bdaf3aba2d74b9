"""Monitoring of `ingest run`: a Healthchecks-style heartbeat and a Prometheus endpoint (docs/live.md,
"Monitoring"). Both are optional (``INGEST_HEARTBEAT_URL``, ``--metrics-port`` / ``INGEST_METRICS_PORT``)
and neither may slow or stop collection: every hook here swallows its own errors, the ping is sent
by a background thread with a short timeout, and the lag queries run on their own connection, bounded
by a statement timeout and spaced so that they take at most a small share of the database's time.

The heartbeat judges each minute at :58 (after the minute's jobs, :02-:55) from the job runs that
*finished* since the previous judgement:

* **fail** (``<URL>/fail``, the reasons in the body) when one of those runs ended ``error``, or the
  database is away: the last lease heartbeat did not reach it, or the leader holds over;
* **success** (``<URL>``) when this process leads with a confirmed lease, the last lease heartbeat
  reached the database, at least one run finished and every one ended ``ok`` or ``partial``;
* **nothing** otherwise: a standby (its leader pings), or a minute in which no run finished (a stalled
  collector; the check's period and grace time turn the silence into an alert).

``ingest run --once`` judges its one cycle the same way, after the spool is loaded; a database that does
not answer at all (exit 3) is a fail ping.

Metrics (a dedicated CollectorRegistry, so several monitors can live in one process): the client's
requests, retries and credits, per job the runs by outcome, durations and requests, per dataset rows
stored, quarantined, spooled and lost, the spool's depth, leadership, and the lag of each dataset's
freshness groups (seconds since their newest row, from the registry's freshness queries, as
`ingest status`).
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit, urlunsplit

import requests

from ingest.config import redact_dsn

log = logging.getLogger(__name__)

# a ping must never hold anything up: one at a time, in its own thread, with this timeout (connect, read)
HEARTBEAT_TIMEOUT_S = 5.0
# Healthchecks keeps the first 100 kB of a body by default; a minute's summary is a few hundred bytes
BODY_LIMIT = 10_000
# while pings keep failing, one warning per this many seconds (the first failure always warns)
PING_WARN_EVERY_S = 600.0
# each minute is judged after its jobs (:02-:30 every minute, :45-:55 every 5 minutes, hh:01:15 hourly)
MINUTE_CLOSE_CRON = {"second": 58}
# lag: refreshed after the minute's jobs and before the spool load at :40; once more soon after start
LAG_REFRESH_CRON = {"second": 35}
LAG_FIRST_REFRESH_S = 15.0
# The freshness queries of `ingest status` look at the last 30 days: with one day of a real-size chain
# (2,300 options a minute) on a native TimescaleDB a pass over all of them took 0.9-1.3 s, growing with
# every day stored: far too much every minute. So the minute's refresh runs them over the last
# LAG_RECENT_WINDOW only (the same SQL, its window narrowed: 0.12-0.16 s there), and the full 30 days once
# an hour; a group without a row in the recent window keeps the newest row the full pass found (nothing
# newer can exist: the full pass is younger than the window).
LAG_FULL_WINDOW = "INTERVAL '30 days'"
LAG_RECENT_WINDOW = "INTERVAL '2 hours'"
LAG_FULL_EVERY_S = 3600.0
LAG_STATEMENT_TIMEOUT_MS = {"recent": 10_000, "full": 120_000}
# a refresh that took T seconds is followed by the next of its kind no sooner than T / share: the lag
# queries never take more than this share of one database connection's time
LAG_MAX_DB_SHARE = 0.05
OUTCOMES = ("ok", "partial", "error")
JOB_DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0)


# --- URLs that may hold a secret -----------------------------------------------------------------

def safe_url(url: str) -> str:
    """The URL to print: scheme and host only. A Healthchecks ping URL's path *is* its secret (the
    check's UUID, or the project's ping key and a slug), so path, query and user info become '***'."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "***"
    if ":" in host:
        host = f"[{host}]"
    netloc = ("***@" if parts.username or parts.password else "") + host + (f":{port}" if port else "")
    path = "/***" if parts.path not in ("", "/") else parts.path
    return urlunsplit((parts.scheme, netloc, path, "***" if parts.query else "", ""))


def scrub(text: str, url: str) -> str:
    """`text` (an error message that may quote the URL or its path) without the URL's secret parts."""
    try:
        parts = urlsplit(url)
        secrets = [url, parts.path, parts.query, parts.password, parts.username,
                   *parts.path.split("/"), *parts.query.split("&")]
    except ValueError:
        secrets = [url]
    for secret in sorted({s for s in secrets if s and s != "/"}, key=len, reverse=True):
        text = text.replace(secret, "***")
    return redact_dsn(text)


def fail_url(url: str) -> str:
    """Healthchecks' failure signal: `/fail` appended to the path (before any query string)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/") + "/fail", parts.query, ""))


# --- the heartbeat ---------------------------------------------------------------------------------

class Heartbeat:
    """Pings `url` (success) or `url/fail` with a text body: POST, in a daemon thread, at most one in
    flight (a ping due while the previous one still waits for its timeout is skipped, not queued), never
    retried: the next minute pings again. Failures are logged with the URL redacted."""

    def __init__(self, url: str, timeout: float = HEARTBEAT_TIMEOUT_S, on_result=None):
        self.url = url
        self.shown = safe_url(url)
        self.timeout = timeout
        self.on_result = on_result  # on_result(kind, result): kind success|fail, result sent|failed|skipped
        self._session = requests.Session()  # used by one ping thread at a time
        self._session.headers["User-Agent"] = "deribit-ingest"
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._failed_in_a_row = 0
        self._last_warning = -math.inf

    def ping(self, success: bool, body: str = "") -> bool:
        """Start a ping; False when one is still in flight (this one is skipped)."""
        kind = "success" if success else "fail"
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                log.warning("heartbeat %s: the previous ping is still waiting for an answer: this %s ping is "
                            "skipped", self.shown, kind)
                self._report(kind, "skipped")
                return False
            self._thread = threading.Thread(target=self._send, args=(kind, body), name="heartbeat", daemon=True)
            self._thread.start()
        return True

    def wait(self, timeout: float | None = None) -> None:
        """Wait for the ping in flight (at most `timeout`, default the ping's own timeouts and a second)."""
        thread = self._thread
        if thread is not None:
            thread.join(self.timeout * 2 + 1 if timeout is None else timeout)

    def _send(self, kind: str, body: str) -> None:
        url = self.url if kind == "success" else fail_url(self.url)
        try:
            resp = self._session.post(url, data=body[:BODY_LIMIT].encode("utf-8"),
                                      headers={"Content-Type": "text/plain; charset=utf-8"},
                                      timeout=(self.timeout, self.timeout))
            problem = None if 200 <= resp.status_code < 300 else f"HTTP {resp.status_code}"
        except requests.RequestException as exc:
            problem = f"{type(exc).__name__}: {scrub(str(exc), self.url)}"[:300]
        except Exception as exc:  # a bug must not kill the thread silently
            problem = f"{type(exc).__name__}: {scrub(str(exc), self.url)}"[:300]
        if problem is None:
            if self._failed_in_a_row:
                log.info("heartbeat %s answers again (%d pings failed before)", self.shown, self._failed_in_a_row)
            self._failed_in_a_row = 0
            log.debug("heartbeat %s: %s ping sent", self.shown, kind)
            self._report(kind, "sent")
            return
        self._failed_in_a_row += 1
        now = time.monotonic()
        if self._failed_in_a_row == 1 or now - self._last_warning >= PING_WARN_EVERY_S:
            self._last_warning = now
            log.warning("heartbeat %s: %s ping failed (%s); not retried, the next minute pings again%s",
                        self.shown, kind, problem,
                        f" ({self._failed_in_a_row} failed in a row)" if self._failed_in_a_row > 1 else "")
        self._report(kind, "failed")

    def _report(self, kind: str, result: str) -> None:
        if self.on_result is not None:
            try:
                self.on_result(kind, result)
            except Exception:
                log.debug("heartbeat result hook failed", exc_info=True)


# --- the lag of each dataset -----------------------------------------------------------------------

# the futures group names the count of active contracts ("BTC futures (4 active)"), which changes with
# listings and expiries: as a label it would start a new series each time
_ACTIVE_COUNT = re.compile(r" \(\d+ active\)$")


@dataclass(frozen=True)
class GroupLag:
    dataset: str
    group: str
    newest: datetime | None  # the group's newest row (None: none, or an active future without a candle)
    cadence_s: float | None  # how often the group is written; None when `ingest status` does not judge it


def group_lags(dataset, rows: list[tuple]) -> list[GroupLag]:
    """One GroupLag per freshness row (dataset, grp, last_ts, rows_24h, cadence_s, checked) of a dataset,
    and one without a row for each of its expected groups that has none (as `ingest status`)."""
    out = [GroupLag(d, _ACTIVE_COUNT.sub("", str(grp)), last, float(cadence) if checked else None)
           for d, grp, last, _rows_24h, cadence, checked in rows]
    seen = {g.group for g in out}
    expected = dataset.freshness.expected if dataset.freshness else ()
    return out + [GroupLag(dataset.name, grp, None, 60.0) for grp in expected if grp not in seen]


def recent_sql(sql: str) -> str:
    """A freshness query over the last LAG_RECENT_WINDOW instead of its 30 days (unchanged if it has
    no such window: then the minute's refresh costs what `ingest status` costs)."""
    return sql.replace(LAG_FULL_WINDOW, LAG_RECENT_WINDOW)


def merge_lags(full: list[GroupLag], recent: list[GroupLag]) -> list[GroupLag]:
    """The recent pass's groups, each group it saw no row of taking the full pass's newest row, and the
    full pass's groups the recent one did not return (no row in the recent window), in full-pass order."""
    by_key = {(g.dataset, g.group): g for g in full}
    for g in recent:
        old = by_key.get((g.dataset, g.group))
        by_key[(g.dataset, g.group)] = g if g.newest is not None or old is None else old
    return list(by_key.values())


class LagTracker:
    """The newest row of each dataset's freshness groups (the registry's freshness queries, as `ingest
    status`): the last 30 days once an hour, the recent window every minute (see LAG_RECENT_WINDOW). The
    lag itself is computed when scraped (on the database's clock), so it keeps growing while refreshes
    fail or the database is away."""

    def __init__(self, database_url: str):
        from ingest import datasets as registry

        self.database_url = database_url
        self.datasets = [d for d in registry.all_datasets() if d.freshness is not None]
        self._lock = threading.Lock()
        self._full: list[GroupLag] = []
        self._groups: list[GroupLag] = []
        self._offset_s = 0.0  # database clock minus ours
        self._next = {"full": 0.0, "recent": 0.0}  # monotonic time before which a pass of that kind waits
        self.last_seconds: dict[str, float] = {}
        self.refreshed_at: float | None = None
        self.errors = 0

    def refresh(self, force: bool = False) -> bool:
        """One pass: the full one when due (or never done), else the recent one when its spacing allows
        (always with force). False when nothing ran or the pass failed."""
        import psycopg

        from ingest.live.writes import short_error
        from ingest.storage.sqlfiles import query

        t0 = time.monotonic()
        kind = "full" if t0 >= self._next["full"] else "recent"
        if kind == "recent" and not force and t0 < self._next["recent"]:
            return False
        shape = (lambda sql: sql) if kind == "full" else recent_sql
        try:
            with psycopg.connect(self.database_url, autocommit=True, connect_timeout=5) as conn:
                with conn.transaction():  # SET LOCAL: the embedded server's session state is global
                    conn.execute(f"SET LOCAL statement_timeout = {int(LAG_STATEMENT_TIMEOUT_MS[kind])}")
                    local_now = time.time()
                    db_now = conn.execute("SELECT now()").fetchone()[0]
                    groups = [g for d in self.datasets
                              for g in group_lags(d, conn.execute(shape(query(d.freshness.query))).fetchall())]
        except Exception as exc:  # a timeout too: the next try of this kind keeps to the share as well
            self.errors += 1
            self._next[kind] = t0 + max(30.0, (time.monotonic() - t0) / LAG_MAX_DB_SHARE)
            if self.errors == 1 or self.errors % 60 == 0:
                log.warning("metrics: lag refresh (%s) failed (%s); lags keep growing from the last refresh",
                            kind, redact_dsn(short_error(exc), self.database_url))
            return False
        took = time.monotonic() - t0
        self._next[kind] = t0 + max(took / LAG_MAX_DB_SHARE, LAG_FULL_EVERY_S if kind == "full" else 0.0)
        with self._lock:
            if kind == "full":
                self._full = groups
            self._groups = merge_lags(self._full, groups)
            self._offset_s = db_now.timestamp() - local_now
            self.last_seconds[kind] = took
            self.refreshed_at = time.time()
        if took > 5:
            log.warning("metrics: the %s lag queries took %.1f s; the next such pass waits %.0f s", kind, took,
                        self._next[kind] - time.monotonic())
        return True

    def lags(self) -> list[tuple[GroupLag, float]]:
        """(group, seconds since its newest row; +Inf: none); empty before the first refresh."""
        with self._lock:
            now = time.time() + self._offset_s
            return [(g, math.inf if g.newest is None else max(0.0, now - g.newest.timestamp()))
                    for g in self._groups]


# --- the Prometheus metrics ------------------------------------------------------------------------

def _credits_available(limiter) -> float | None:
    """The limiter's bucket now (refilled), read without spending: CreditLimiter keeps it private."""
    try:
        with limiter._lock:
            return min(limiter.capacity, limiter._tokens + (limiter._clock() - limiter._last) * limiter.refill)
    except AttributeError:
        return None


class _LiveState:
    """Values read when scraped: the client's counters and credits, the spool, the lease, the lags."""

    def __init__(self, ctx, lag: LagTracker):
        self.ctx = ctx
        self.lag = lag

    def describe(self):
        return []  # values are read at scrape time only

    def collect(self):
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        client = self.ctx.client
        stats = dict(client.stats)
        limiter = client.limiter
        for key, help_text in (
                ("requests", "HTTP requests sent to the exchange: every attempt, retries included"),
                ("retries", "requests retried after a transient failure (5xx, timeout, malformed body, ...)"),
                ("rate_limited", "answers 10028 too_many_requests (the request waited for credits and was sent again)"),
                ("failures", "requests given up after their retries"),
                ("errors", "JSON-RPC errors that retrying cannot fix (e.g. -32602 invalid params)")):
            yield CounterMetricFamily(f"ingest_deribit_{key}", help_text, value=stats.get(key, 0))
        yield CounterMetricFamily("ingest_deribit_credits_used", "credits spent from the rate limiter: "
                                  "requests x the cost of one (DERIBIT_REQUEST_COST)",
                                  value=stats.get("requests", 0) * limiter.cost)
        yield GaugeMetricFamily("ingest_deribit_credit_pool", "this process's credit pool (DERIBIT_CREDIT_POOL x "
                                "the rate share)", value=limiter.capacity)
        available = _credits_available(limiter)
        if available is not None:
            yield GaugeMetricFamily("ingest_deribit_credits_available", "credits in the bucket now",
                                    value=available)
        yield CounterMetricFamily("ingest_deribit_credit_wait_seconds", "time requests waited for credits",
                                  value=limiter.waited_s)
        yield from self._spool()
        lease = self.ctx.lease
        yield GaugeMetricFamily("ingest_leader", "1 while this process leads with a confirmed lease",
                                value=1 if lease.is_leader else 0)
        yield GaugeMetricFamily("ingest_holding_over", "1 while the leader cannot reach the database and "
                                "collects forward-only rows into the spool", value=1 if lease.holding_over else 0)
        if lease.reachable is not None:
            yield GaugeMetricFamily("ingest_database_reachable", "1 when the last lease heartbeat reached the "
                                    "database", value=1 if lease.reachable else 0)
        lags = self.lag.lags()
        if lags:
            lag = GaugeMetricFamily("ingest_dataset_lag_seconds", "seconds since the newest row of each "
                                    "freshness group of a dataset (`ingest status`'s groups; +Inf: no row)",
                                    labels=["dataset", "group"])
            cadence = GaugeMetricFamily("ingest_dataset_cadence_seconds", "how often a group is written, for "
                                        "the groups `ingest status` judges: stale when lag > cadence + max lag",
                                        labels=["dataset", "group"])
            for g, seconds in lags:
                lag.add_metric([g.dataset, g.group], seconds)
                if g.cadence_s is not None:
                    cadence.add_metric([g.dataset, g.group], g.cadence_s)
            yield lag
            yield cadence
        if self.lag.last_seconds:
            took = GaugeMetricFamily("ingest_lag_refresh_seconds", "duration of the last lag refresh of each kind "
                                     "(full: 30 days, once an hour; recent: every minute)", labels=["kind"])
            for kind, seconds in self.lag.last_seconds.items():
                took.add_metric([kind], seconds)
            yield took
            yield GaugeMetricFamily("ingest_lag_refreshed_timestamp_seconds", "when the lags were last "
                                    "refreshed (Unix time)", value=self.lag.refreshed_at)
        yield CounterMetricFamily("ingest_lag_refresh_errors", "lag refreshes that failed",
                                  value=self.lag.errors)

    def _spool(self):
        from prometheus_client.core import GaugeMetricFamily

        from ingest.live import spool as spool_mod

        try:
            s = spool_mod.summary(self.ctx.spool.dir)
        except OSError:
            return
        for key, help_text in (("files", "files waiting in the spool for the database"),
                               ("rows", "rows waiting in the spool for the database"),
                               ("bytes", "bytes of the files waiting in the spool"),
                               ("refused_files", "spool files moved to refused/ (kept for a human)")):
            yield GaugeMetricFamily(f"ingest_spool_{key}", help_text, value=s.get(key) or 0)


class Metrics:
    """The Prometheus metrics of one collector, in their own registry."""

    def __init__(self, ctx, jobs: list[str]):
        from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics

        disable_created_metrics()  # no *_created series: they double every counter for nothing here
        self.registry = r = CollectorRegistry(auto_describe=False)
        # `job` is Prometheus's own target label: ours is job_name (as job_heartbeats.job_name)
        self.job_runs = Counter("ingest_job_runs", "job runs by outcome (ok, partial, error)",
                                ["job_name", "outcome"], registry=r)
        self.job_duration = Histogram("ingest_job_duration_seconds", "duration of each job run", ["job_name"],
                                      buckets=JOB_DURATION_BUCKETS, registry=r)
        self.job_requests = Counter("ingest_job_requests", "exchange requests per job", ["job_name"], registry=r)
        self.rows = Counter("ingest_rows_stored", "rows inserted or changed, per dataset (a maintenance job's, "
                            "e.g. gap_repair's candles, under its job name)", ["dataset"], registry=r)
        self.quarantined = Counter("ingest_rows_quarantined", "rows quarantined, per dataset (`spool`: rejects "
                                   "kept in the spool, quarantined when loaded)", ["dataset"], registry=r)
        self.spooled = Counter("ingest_rows_spooled", "rows written to the spool (the database did not answer)",
                               ["dataset"], registry=r)
        self.lost = Counter("ingest_rows_lost", "rows neither stored nor spooled (spool full or not writable)",
                            ["dataset"], registry=r)
        self.spool_loaded_rows = Counter("ingest_spool_loaded_rows", "rows loaded from the spool into the "
                                         "database (not there before)", registry=r)
        self.spool_loaded_files = Counter("ingest_spool_loaded_files", "spool files loaded and deleted", registry=r)
        self.minutes = Counter("ingest_minutes", "minutes judged by the heartbeat: success, fail, or none "
                               "(a standby, or no run finished)", ["verdict"], registry=r)
        self.pings = Counter("ingest_heartbeat_pings", "heartbeat pings by kind (success, fail) and result "
                             "(sent, failed, skipped)", ["kind", "result"], registry=r)
        for job in jobs:  # every series exists from the start, at 0 (rate() and absent() need it)
            for outcome in OUTCOMES:
                self.job_runs.labels(job, outcome)
            self.job_duration.labels(job)
            self.job_requests.labels(job)
            for counter in (self.rows, self.quarantined, self.spooled, self.lost):
                counter.labels(job)
        for verdict in ("success", "fail", "none"):
            self.minutes.labels(verdict)
        self.lag = LagTracker(ctx.settings.database_url)
        r.register(_LiveState(ctx, self.lag))

    def record_ping(self, kind: str, result: str) -> None:
        self.pings.labels(kind, result).inc()


# --- the monitor: what the hooks in jobs.py, scheduler.py and cli.py call --------------------------

@dataclass(frozen=True)
class RunRecord:
    job: str
    outcome: str
    error: str | None
    rows: int
    requests: int
    duration_s: float
    holding_over: bool

    def line(self) -> str:
        return (f"{self.job} {self.outcome} rows={self.rows} requests={self.requests} "
                f"duration_ms={int(self.duration_s * 1000)}" + (" (holding over)" if self.holding_over else "")
                + (f" error={self.error}" if self.error else ""))


class Monitor:
    def __init__(self, ctx, heartbeat: Heartbeat | None = None, metrics: Metrics | None = None):
        self.ctx = ctx
        self.heartbeat = heartbeat
        self.metrics = metrics
        if heartbeat is not None and metrics is not None:
            heartbeat.on_result = metrics.record_ping
        self._lock = threading.Lock()
        self._runs: list[RunRecord] = []
        self._server = None

    # hooks
    def job_finished(self, name: str, result, outcome: str, error: str | None, requests: int,
                     duration_s: float, holding_over: bool) -> None:
        with self._lock:
            self._runs.append(RunRecord(name, outcome, error, result.rows, requests, duration_s, holding_over))
        m = self.metrics
        if m is None:
            return
        m.job_runs.labels(name, outcome).inc()
        m.job_duration.labels(name).observe(duration_s)
        m.job_requests.labels(name).inc(requests)
        m.rows.labels(name).inc(result.rows)
        m.quarantined.labels(name).inc(result.quarantined)
        m.spooled.labels(name).inc(result.spooled)
        m.lost.labels(name).inc(result.lost)

    def spool_loaded(self, res) -> None:
        if self.metrics is not None and res is not None:
            self.metrics.spool_loaded_rows.inc(res.rows)
            self.metrics.spool_loaded_files.inc(res.files)
            self.metrics.quarantined.labels("spool").inc(res.quarantined)

    def judge(self, runs: list[RunRecord]) -> tuple[str, str]:
        """(verdict, body) of a minute: see the module's docstring."""
        lease = self.ctx.lease
        reasons = []
        if lease.holding_over:
            reasons.append(f"database unreachable ({self.ctx.settings.safe_database_url}): holding over, "
                           "forward-only rows go to the spool")
        elif lease.reachable is False:
            reasons.append(f"database unreachable ({self.ctx.settings.safe_database_url})")
        reasons += [f"{r.job}: error: {r.error or 'failed'}" for r in runs if r.outcome == "error"]
        if reasons:
            verdict = "fail"
            head = "FAIL: " + "; ".join(reasons)
        elif lease.is_leader and lease.reachable and runs:
            verdict = "success"
            head = f"ok: {len(runs)} job runs, every one ok or partial; the database answered"
        else:
            return "none", ""
        minute = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M")
        body = "\n".join([head, f"minute {minute}Z holder {self.ctx.holder}", *(r.line() for r in runs)])
        return verdict, redact_dsn(body, self.ctx.settings.database_url)

    def close_minute(self) -> str:
        """Judge the runs that finished since the last call and ping; returns the verdict."""
        if self.ctx.stop.is_set():
            return "none"
        with self._lock:
            runs, self._runs = self._runs, []
        verdict, body = self.judge(runs)
        if self.metrics is not None:
            self.metrics.minutes.labels(verdict).inc()
        if verdict == "fail":
            log.info("heartbeat: this minute failed: %s", body.splitlines()[0])
        if self.heartbeat is not None and verdict != "none":
            self.heartbeat.ping(verdict == "success", body)
        return verdict

    def database_unreachable(self, reason: str) -> None:
        """`ingest run --once` found no database: a fail ping at once."""
        if self.metrics is not None:
            self.metrics.minutes.labels("fail").inc()
        if self.heartbeat is not None:
            body = f"FAIL: database unreachable ({self.ctx.settings.safe_database_url}): {reason}"
            self.heartbeat.ping(False, redact_dsn(body, self.ctx.settings.database_url))

    def refresh_lag(self) -> None:
        if self.metrics is not None and not self.ctx.stop.is_set():
            self.metrics.lag.refresh()

    # the collector's schedule, the endpoint, the end
    def schedule(self, scheduler) -> None:
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.triggers.cron import CronTrigger

        # own executors: a busy job pool, or a slow lag query, never delays the minute's judgement
        scheduler.add_executor(ThreadPoolExecutor(1), alias="monitoring")
        scheduler.add_job(self.close_minute, CronTrigger(timezone=timezone.utc, **MINUTE_CLOSE_CRON),
                          id="heartbeat", name="heartbeat", executor="monitoring")
        if self.metrics is not None:
            scheduler.add_executor(ThreadPoolExecutor(1), alias="monitoring_lag")
            first = datetime.now(timezone.utc) + timedelta(seconds=LAG_FIRST_REFRESH_S)
            scheduler.add_job(self.refresh_lag, CronTrigger(timezone=timezone.utc, **LAG_REFRESH_CRON),
                              id="lag", name="lag", executor="monitoring_lag", next_run_time=first)

    def serve(self, port: int, addr: str = "0.0.0.0") -> int:
        """Start the endpoint (GET /metrics) in a daemon thread; returns the port (0 picks a free one)."""
        from prometheus_client import start_http_server

        self._server, _thread = start_http_server(port, addr, registry=self.metrics.registry)
        return self._server.server_port

    def shutdown(self, wait_s: float | None = None) -> None:
        if self.heartbeat is not None:
            self.heartbeat.wait(wait_s)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def start(ctx, jobs: list[str], metrics_port: int = 0, metrics_addr: str = "0.0.0.0") -> Monitor | None:
    """The monitor `ingest run` asked for (INGEST_HEARTBEAT_URL, a metrics port), attached to ctx as
    ctx.monitor; None when neither is set. Raises OSError when the port cannot be bound."""
    url = ctx.settings.heartbeat_url
    if not url and not metrics_port:
        return None
    monitor = Monitor(ctx, Heartbeat(url) if url else None, Metrics(ctx, jobs) if metrics_port else None)
    if metrics_port:
        port = monitor.serve(metrics_port, metrics_addr)
        log.info("metrics: http://%s:%d/metrics", metrics_addr, port)
    if url:
        log.info("heartbeat: %s after every successful minute, %s/fail with the reason otherwise",
                 monitor.heartbeat.shown, monitor.heartbeat.shown)
    ctx.monitor = monitor
    return monitor


# hooks: one line each at their call sites; never raise (monitoring must not disturb collection)

def _call(ctx, method: str, *args) -> None:
    monitor = getattr(ctx, "monitor", None)
    if monitor is None:
        return
    try:
        getattr(monitor, method)(*args)
    except Exception:
        log.warning("monitoring: %s failed", method, exc_info=True)


def job_finished(ctx, name, result, outcome, error, requests, duration_s, holding_over) -> None:
    _call(ctx, "job_finished", name, result, outcome, error, requests, duration_s, holding_over)


def spool_loaded(ctx, res) -> None:
    _call(ctx, "spool_loaded", res)


def close_minute(ctx) -> None:
    _call(ctx, "close_minute")


def database_unreachable(ctx, reason: str) -> None:
    _call(ctx, "database_unreachable", reason)


def schedule(ctx, scheduler) -> None:
    _call(ctx, "schedule", scheduler)


def shutdown(ctx) -> None:
    _call(ctx, "shutdown")
