"""`ingest backfill ...`: a thin click layer over ingest.backfill.backfill()."""

from __future__ import annotations

import logging
import sys
from datetime import datetime, timezone

import click

# exit statuses: 0 every planned window complete; 1 some window or instrument failed (run again: it
# resumes and retries them); 2 usage error (click); 3 complete but for values the exchange sent
# invalid twice (quarantined, window recorded 'partial')
EXIT_FAILED = 1
EXIT_PARTIAL = 3


def parse_when(value: str | None) -> int | None:
    """'2024-06-01', '2024-06-01T12:30', '2024-06-01 12:30:00Z' (UTC) or epoch milliseconds -> ms."""
    if value is None or value == "":
        return None
    text = value.strip()
    if text.isdigit():
        n = int(text)
        return n if n > 10**11 else n * 1000  # seconds or milliseconds
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"not a date or timestamp: {value!r}") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return int(dt.timestamp() * 1000)


def _common(fn):
    options = [
        click.option("--instrument", "instruments", multiple=True, metavar="NAME",
                     help="Only this instrument (repeatable), e.g. BTC-PERPETUAL or BTC-28JUN24."),
        click.option("--since", help="Start: a UTC date/time (2024-01-01, 2024-01-01T12:00) or epoch ms."),
        click.option("--until", help="End (inclusive), same formats; default: the last complete minute."),
        click.option("--dry-run", is_flag=True, help="Print the plan (instruments × windows, requests, "
                                                     "estimated duration) and store nothing; fetches no data "
                                                     "but trades' one sample page a month."),
        click.option("--resume/--restart", default=True, show_default=True,
                     help="Skip windows finished by an earlier run, or forget the checkpoints first."),
        click.option("--workers", default=None, type=click.IntRange(1, 32),
                     help="Fix the fetch threads (all share the one rate limiter). Default: as many requests "
                          "in flight as the rate budget and the measured round trip need (8 to 32)."),
        click.option("--prefetch", default=None, type=click.IntRange(1, 64),
                     help="Fix the windows fetched ahead of the one being loaded (default: automatic, as "
                          "--workers)."),
        click.option("--no-refresh", is_flag=True, help="Do not refresh continuous aggregates afterwards."),
        click.option("--no-analyze", is_flag=True, help="Do not ANALYZE the loaded chunks afterwards "
                                                        "(planner statistics; the embedded server has no "
                                                        "autovacuum)."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _run(dataset: str, instruments, since, until, dry_run, resume, workers, prefetch, no_refresh,
         no_analyze, **options) -> None:
    """One backfill from the command line; `options` are the dataset's own (e.g. the index's --source)."""
    from ingest.backfill.runner import backfill as run_backfill
    from ingest.config import Settings
    from ingest.deribit.client import DeribitClient
    from ingest.storage.db import DatabaseError, connect

    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s",
                            stream=sys.stderr)
    try:
        settings = Settings.from_env()
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    since_ms, until_ms = parse_when(since), parse_when(until)
    if since_ms is not None and until_ms is not None and until_ms < since_ms:
        raise click.BadParameter("--until is before --since")
    client = DeribitClient.from_settings(settings)
    try:
        conn = connect(settings.database_url, autocommit=True)
    except DatabaseError as exc:
        from ingest.cli import database_failure

        raise database_failure(exc, settings.database_url) from None
    with conn:
        try:
            result = run_backfill(dataset, client, conn, since_ms=since_ms, until_ms=until_ms,
                                  instruments=list(instruments), options=options, restart=not resume,
                                  dry_run=dry_run, workers=workers, depth=prefetch, refresh=not no_refresh,
                                  analyze=not no_analyze, echo=click.echo)
        except ValueError as exc:
            if str(exc).startswith("bad --instrument"):
                raise click.UsageError(str(exc)) from None
            raise click.ClickException(str(exc)) from None
    if result.status == "failed":
        click.echo(f"incomplete: {len(result.failed) or result.stats.windows_failed} window(s) failed"
                   + (f", {len(result.stats.problems)} instrument(s) could not be planned"
                      if result.stats.problems else "")
                   + "; run the same command again to retry them", err=True)
        sys.exit(EXIT_FAILED)
    if result.status == "partial":
        click.echo(f"complete but for {result.stats.quarantined} value(s) quarantined in "
                   f"{result.stats.windows_partial} window(s): the exchange sent them invalid twice "
                   "(see the quarantine table)", err=True)
        sys.exit(EXIT_PARTIAL)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def backfill() -> None:
    """Backfill history into TimescaleDB: complete, resumable, idempotent, at the API's rate limit.

    Checkpoints per instrument and window live in backfill_checkpoints: stop it (even kill -9) and
    run the same command again to continue. An answer with invalid content is fetched again; values
    invalid in two answers are quarantined and their window recorded 'partial'.

    \b
    Exit status:
      0  every planned window complete
      1  windows or instruments failed (listed); run the same command again to retry them
      2  usage error (e.g. a malformed --instrument name)
      3  complete but for quarantined values (windows recorded 'partial', listed)
      4  the database cannot be reached (one line naming it, password redacted)

    \b
    Example:
        ingest backfill perpetuals --since 2024-01-01
        ingest backfill all --dry-run
    """


def _register() -> None:
    """One subcommand per registered dataset with a backfill, with its own help and options, and `all`."""
    from ingest import datasets

    for d in datasets.backfillable():
        def command(dataset=d.name, **kw) -> None:
            _run(dataset, **kw)
        fn = command
        for option in d.backfill.options:
            fn = option(fn)
        fn = _common(fn)
        backfill.command(d.name, help=d.backfill.help or d.description)(fn)

    in_all = ", ".join(d.name for d in datasets.backfillable() if d.backfill.in_all)

    @backfill.command("all", help=f"""Everything, in order: {in_all}.

    \b
    Example:
        ingest backfill all --dry-run
        ingest backfill all --since 2024-01-01
    """)
    @_common
    def all_(**kw) -> None:
        _run("all", **kw)


_register()
