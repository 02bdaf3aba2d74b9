"""The long-lived collector: an APScheduler 3 BlockingScheduler in one process.

Cadence (UTC; minute jobs fire a few seconds after the minute closes, so its candle is final):

    lease          every lease_seconds/3   renew (leader) or try to acquire (standby)
    index          every minute at :02     get_index_price btc_usd, eth_usd
    candles        every minute at :04     last closed minute of perpetuals + futures, catch-up
    chain          every minute at :06     book summary BTC, ETH -> computed greeks
    option_candles every minute at :20     candles of options that traded
    ticker_sweep   every minute at :30     1/60 of the options' tickers -> exchange greeks
    gap_repair     every 5 minutes at :45  missing minutes of the last gap_days
    funding        hourly at hh:01:15      funding of the last hours (+ index source 'funding')
    instruments    hourly at hh:00:40      get_instruments (new listings, expiries); also at takeover
    spool          every minute at :40     load spooled rows, oldest first, for at most spool_flush_seconds

Every job has max_instances=1 and coalesce=True (a late run is merged, never stacked) with a misfire
grace of 50 s. Standbys run only the lease job's acquisition; when a process becomes leader, the
instruments, candles (catch-up) and chain jobs run at once. A leader holding over (database unreachable)
runs only the forward-only jobs (index, chain, ticker_sweep), into the spool. The spool job runs in
every process that is not holding over (a standby too: the rows are its own, loaded without ever
overwriting a row), in the second half of the minute so the minute's own writes come first.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from datetime import datetime, timedelta, timezone

import psycopg
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from ingest.live import monitoring
from ingest.live.context import Context
from ingest.live.jobs import flush_spool, run_job, selected_jobs
from ingest.live.writes import connection_problem, short_error

log = logging.getLogger(__name__)

SPOOL_CRON = dict(second=40)

# `ingest run --once` exit status
EXIT_OK, EXIT_PARTIAL, EXIT_NOT_LEADER, EXIT_DB_UNREACHABLE = 0, 1, 2, 3


class Collector:
    def __init__(self, ctx: Context):
        self.ctx = ctx
        self.scheduler = BlockingScheduler(
            timezone=timezone.utc,
            executors={"default": ThreadPoolExecutor(8), "lease": ThreadPoolExecutor(1),
                       "spool": ThreadPoolExecutor(1)},
            job_defaults={"max_instances": 1, "coalesce": True, "misfire_grace_time": 50})
        self._running = 0
        self._running_lock = threading.Lock()
        self._stopping = False
        ctx.lease.on_change = self._leadership_changed

    # -- job wrappers
    def _job(self, name: str) -> None:
        if self.ctx.stop.is_set():
            return
        with self._running_lock:
            self._running += 1
        try:
            now = time.time()
            # the minute the run belongs to: the scheduled minute (a run fires a few seconds after it)
            run_job(self.ctx, name, int(now // 60) * 60_000)
        finally:
            with self._running_lock:
                self._running -= 1

    def _flush(self) -> None:
        if not self.ctx.stop.is_set():
            flush_spool(self.ctx, self.ctx.config.spool_flush_seconds)

    def _lease_tick(self) -> None:
        if not self.ctx.stop.is_set():
            self.ctx.lease.tick()

    def _leadership_changed(self, leader: bool) -> None:
        if not leader or self._stopping:
            return
        now = datetime.now(timezone.utc)
        for i, name in enumerate(j.name for j in selected_jobs(self.ctx.config) if j.on_takeover):
            job = self.scheduler.get_job(name)
            if job is not None:
                job.modify(next_run_time=now + timedelta(milliseconds=200 * (i + 1)))

    def setup(self) -> None:
        cfg = self.ctx.config
        self.scheduler.add_job(self._lease_tick, IntervalTrigger(seconds=cfg.lease_seconds / 3),
                               id="lease", executor="lease", next_run_time=datetime.now(timezone.utc),
                               misfire_grace_time=None)
        for job in selected_jobs(cfg):
            self.scheduler.add_job(self._job, CronTrigger(timezone=timezone.utc, **job.schedule),
                                   args=(job.name,), id=job.name, name=job.name)
        self.scheduler.add_job(self._flush, CronTrigger(timezone=timezone.utc, **SPOOL_CRON), id="spool",
                               name="spool", executor="spool")
        monitoring.schedule(self.ctx, self.scheduler)  # heartbeat at :58, lag refresh (if asked for)

    def request_stop(self, signum=None, frame=None) -> None:
        if self._stopping:
            return
        self._stopping = True
        log.info("signal %s: finishing the current writes, then releasing the lease",
                 signal.Signals(signum).name if signum else "stop")
        self.ctx.stop.set()
        # not from the signal handler itself: it runs in the main thread, possibly inside the
        # scheduler's loop holding its (reentrant) locks; another thread waits for them
        threading.Thread(target=self._shutdown_scheduler, name="shutdown", daemon=True).start()

    def _shutdown_scheduler(self) -> None:
        try:
            self.scheduler.shutdown(wait=False)
        except Exception:
            pass

    def run(self) -> int:
        self.setup()
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)
        log.info("ingest run: holder %s, lease %.0f s, rate share %.2f, jobs %s, database %s, spool %s",
                 self.ctx.holder, self.ctx.config.lease_seconds, self.ctx.config.rate_share,
                 ",".join(j.name for j in selected_jobs(self.ctx.config)), self.ctx.settings.safe_database_url,
                 self.ctx.spool.dir)
        waiting = self.ctx.spool.files()
        if waiting:
            log.warning("spool %s holds %d files (%d rows) from before: loading them when the database answers",
                        self.ctx.spool.dir, len(waiting), sum(f.rows for f in waiting))
        try:
            self.scheduler.start()
        except Exception as exc:  # a race with shutdown must not turn a clean stop into a crash
            if not self._stopping:
                raise
            log.debug("scheduler loop ended during shutdown: %s", exc)
        finally:
            self._stopping = True
            self.ctx.stop.set()
            deadline = time.monotonic() + 60
            while self._running and time.monotonic() < deadline:
                time.sleep(0.1)
            self.ctx.lease.release()
            self.ctx.close()
        log.info("ingest run stopped")
        return 0


def run_once(ctx: Context, wait_s: float | None = None) -> int:
    """Acquire the lease (waiting up to wait_s, default two lease periods), run each selected job once
    in dependency order, load what the spool holds, release the lease. Exit status: 0 all ok, 1 a job
    failed or was partial (or spooled rows are left), 2 another process leads, 3 the database does
    not answer (checked first, so this is said at once, not after the lease wait)."""
    try:  # a plain connection, not the pool: a refused connection is known at once, not after its timeout
        with psycopg.connect(ctx.settings.database_url, autocommit=True,
                             connect_timeout=max(2, int(ctx.config.db_timeout))) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:
        if not connection_problem(exc):
            raise
        log.error("database unreachable: %s (%s)", ctx.settings.safe_database_url, short_error(exc))
        monitoring.database_unreachable(ctx, short_error(exc))
        ctx.close()
        return EXIT_DB_UNREACHABLE
    deadline = time.monotonic() + (ctx.config.lease_seconds * 2 if wait_s is None else wait_s)
    while not ctx.lease.tick():
        if ctx.lease.reachable is False:  # lost the database between the check and the heartbeat
            log.error("database unreachable: %s", ctx.settings.safe_database_url)
            monitoring.database_unreachable(ctx, "the lease heartbeat did not reach it")
            ctx.close()
            return EXIT_DB_UNREACHABLE
        if time.monotonic() >= deadline:
            log.error("another process holds the lease %s: not running", ctx.config.lease_name)
            ctx.close()
            return EXIT_NOT_LEADER
        time.sleep(min(1.0, ctx.config.lease_seconds / 3))
    status = EXIT_OK
    try:
        now = time.time()
        minute = int(now // 60) * 60_000
        for job in selected_jobs(ctx.config):
            ctx.lease.tick()
            result = run_job(ctx, job.name, minute)
            if result is None or getattr(result, "outcome_override", "ok") != "ok":
                status = EXIT_PARTIAL
        ctx.lease.tick()
        flush_spool(ctx)
        if ctx.spool.files():
            log.warning("spool %s still holds %d files", ctx.spool.dir, len(ctx.spool.files()))
            status = EXIT_PARTIAL
        monitoring.close_minute(ctx)  # the heartbeat judges this one cycle
    finally:
        ctx.lease.release()
        ctx.close()
    return status
