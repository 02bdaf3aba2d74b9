"""`ingest status`: freshness, gaps, leader, jobs and storage (registered by ingest/cli.py)."""

from __future__ import annotations

import json
import sys

import click


@click.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--max-lag", default="5m", show_default=True,
              help="Staleness threshold (90s, 5m, 2h) on top of each series' cadence.")
@click.option("--gap-days", default=3.0, show_default=True, type=float, help="Open gaps of the last N days.")
def status(as_json: bool, max_lag: str, gap_days: float) -> None:
    """Per dataset and instrument group: last timestamp, lag, rows in the last 24 h; open gaps; the
    leader and its lease; last run and outcome per job; storage per table; the live collector's spool
    (INGEST_SPOOL_DIR: rows kept while the database did not answer, still to be loaded).

    Exit status: 0 all fresh, 1 a dataset is staler than --max-lag (plus its cadence: a minute for
    minute series, an hour for hourly ones), 2 the database cannot be read (the spool is still shown).
    Healthchecks call it.

    \b
    Example:
        ingest status
        ingest status --json --max-lag 3m
    """
    from ingest.cli import database_failure
    from ingest.config import Settings
    from ingest.live.status import collect, parse_duration, render, render_spool, spool_report

    try:
        settings = Settings.from_env()
        max_lag_s = parse_duration(max_lag)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    try:
        report = collect(settings.database_url, max_lag_s=max_lag_s, gap_days=gap_days,
                         spool_dir=settings.spool_dir)
    except Exception as exc:
        text = database_failure(exc, settings.database_url).message  # names the database, redacted
        click.echo(f"error: {text}", err=True)
        spool = spool_report(settings.spool_dir)
        if as_json:
            click.echo(json.dumps({"database": settings.safe_database_url, "error": text, "spool": spool,
                                   "ok": False}, indent=2, default=str))
        else:
            click.echo("\n".join(render_spool(spool)))
        sys.exit(2)
    click.echo(json.dumps(report, indent=2, default=str) if as_json else render(report))
    sys.exit(0 if report["ok"] else 1)
