"""`ingest run`: the live collector (registered by ingest/cli.py)."""

from __future__ import annotations

import sys

import click

from ingest.live.context import all_jobs


def _jobs(value: str | None) -> tuple[str, ...]:
    if not value or value == "all":
        return all_jobs()
    names = tuple(n.strip() for n in value.split(",") if n.strip())
    unknown = [n for n in names if n not in all_jobs()]
    if unknown:
        raise click.BadParameter(f"unknown job(s) {', '.join(unknown)}; choose from {', '.join(all_jobs())}")
    return names


@click.command("run")
@click.option("--lease-seconds", type=float, default=30.0, show_default=True,
              help="Leader lease period; renewed every third of it. A standby takes over within two.")
@click.option("--rate-share", type=float, default=None,
              help="Fraction of Deribit's request budget this process may use "
                   "[default: DERIBIT_RATE_SHARE if below 1, else 0.25].")
@click.option("--jobs", "jobs", default="all", show_default=True,
              help="Comma-separated jobs to run: each dataset's (perpetuals, futures, options, chain, tickers, "
                   "funding, index, instruments, ...) and the maintenance jobs (gap_repair, aggregates, "
                   "analytics); `all` for every one.")
@click.option("--once", is_flag=True, help="Take the lease, run each selected job once, load the spool, "
                                           "release, exit (0 ok, 1 a job failed or was partial, 2 another "
                                           "process leads, 3 the database does not answer).")
@click.option("--lookback-minutes", type=int, default=120, show_default=True,
              help="Where candle collection starts for an instrument with no stored candle.")
@click.option("--catchup-days", type=float, default=3.0, show_default=True,
              help="How far back catch-up and gap repair look (older history is the backfill's).")
@click.option("--sweep-minutes", type=int, default=60, show_default=True,
              help="The exchange-greeks sweep covers every option once per this many minutes.")
@click.option("--currencies", default="BTC,ETH", show_default=True, help="Currencies to collect.")
@click.option("--spool-max-mb", type=float, default=1024.0, show_default=True,
              help="Bound of the spool (INGEST_SPOOL_DIR) that keeps forward-only rows while the database "
                   "does not answer; when full, new rows are refused with a warning.")
@click.option("--spool-flush-seconds", type=float, default=15.0, show_default=True,
              help="How long each minute's spool load (from :40) may run, so the live minute stays on time.")
@click.option("--metrics-port", type=click.IntRange(0, 65535), default=None,
              help="Serve Prometheus metrics on this port (GET /metrics) [default: INGEST_METRICS_PORT, "
                   "else 0 = off]. The heartbeat is INGEST_HEARTBEAT_URL's (docs/live.md, Monitoring).")
@click.option("--metrics-addr", default="0.0.0.0", show_default=True,
              help="Address the metrics endpoint listens on (127.0.0.1: this host only).")
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
def run(lease_seconds, rate_share, jobs, once, lookback_minutes, catchup_days, sweep_minutes, currencies,
        spool_max_mb, spool_flush_seconds, metrics_port, metrics_addr, verbose) -> None:
    """Live collection: one leader, the whole chain every minute, self-healing.

    Candles of the perpetuals and active futures every minute (with catch-up after downtime), the
    BTC/ETH option chain with computed greeks every minute, option candles of traded options, the
    index every minute, exchange greeks spread over the hour, funding and instruments hourly, gap
    repair. Start two on one database: one leads (lease row), the other stands by and takes over.
    While the database does not answer, the leader keeps collecting what the exchange cannot serve
    again (chain snapshots, exchange greeks, the index) into a local spool (INGEST_SPOOL_DIR) and loads
    it when the database is back. SIGTERM/SIGINT finish the current writes, release the lease and
    exit 0. With INGEST_HEARTBEAT_URL set, every successful minute pings it (Healthchecks.io style;
    URL/fail with the reason when a job ended 'error' or the database is away); --metrics-port serves
    Prometheus metrics. See docs/live.md.

    \b
    Example:
        ingest run                                   # long-lived, the leader or a standby
        ingest run --once --jobs perpetuals,index    # one cycle of two jobs, then exit
        DERIBIT_API_URL=http://127.0.0.1:8765/api/v2 ingest run --lease-seconds 15
        INGEST_HEARTBEAT_URL=https://hc-ping.com/<uuid> ingest run --metrics-port 9108
        INGEST_SPOOL_DIR=/var/lib/ingest/spool ingest run --spool-max-mb 4096
    """
    import logging

    from ingest.config import Settings
    from ingest.live import logsetup, monitoring
    from ingest.live.context import Context, LiveConfig
    from ingest.live.scheduler import Collector, run_once

    try:
        settings = Settings.from_env()
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    if rate_share is None:
        rate_share = settings.rate_share if settings.rate_share < 1 else 0.25
    if not 0 < rate_share <= 1:
        raise click.BadParameter("must be in (0, 1]", param_hint="--rate-share")
    if lease_seconds < 3:
        raise click.BadParameter("must be at least 3 seconds", param_hint="--lease-seconds")
    logsetup.setup(settings, logging.DEBUG if verbose else logging.INFO)
    if spool_max_mb <= 0:
        raise click.BadParameter("must be positive", param_hint="--spool-max-mb")
    config = LiveConfig(lease_seconds=lease_seconds, rate_share=rate_share, jobs=_jobs(jobs),
                        initial_lookback_min=lookback_minutes, catchup_days=catchup_days,
                        gap_days=catchup_days, sweep_minutes=max(1, sweep_minutes),
                        currencies=tuple(c.strip().upper() for c in currencies.split(",") if c.strip()),
                        spool_max_bytes=int(spool_max_mb * 1024 * 1024),
                        spool_flush_seconds=max(1.0, spool_flush_seconds))
    ctx = Context(settings, config)
    try:
        ctx.spool.ensure_dir()
    except OSError as exc:
        ctx.close()
        raise click.ClickException(f"spool directory {settings.spool_dir} (INGEST_SPOOL_DIR) is not writable: "
                                   f"{exc.strerror or exc}") from None
    port = settings.metrics_port if metrics_port is None else metrics_port
    try:
        monitoring.start(ctx, list(config.jobs), port, metrics_addr)
    except OSError as exc:
        ctx.close()
        raise click.ClickException(f"--metrics-port {port} on {metrics_addr}: {exc.strerror or exc}") from None
    try:
        status = run_once(ctx) if once else Collector(ctx).run()
    finally:
        monitoring.shutdown(ctx)  # the last ping's answer (a few seconds at most), the endpoint closed
    sys.exit(status)
