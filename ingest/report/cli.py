"""`ingest report` (registered by ingest/cli.py): a thin click layer over ingest.report."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import click

DURATION = re.compile(r"^(\d+(?:\.\d+)?)([dhm])$")
UNIT = {"d": timedelta(days=1), "h": timedelta(hours=1), "m": timedelta(minutes=1)}


def parse_time(value: str, option: str) -> datetime:
    """'2024-06-01', '2024-06-01T12:30', '2024-06-01 12:30:00Z' (UTC unless an offset is given) or
    epoch seconds/milliseconds."""
    text = value.strip()
    if text.isdigit():
        n = int(text)
        return datetime.fromtimestamp(n / 1000 if n > 10**11 else n, timezone.utc)
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"not a date, time or duration: {value!r}", param_hint=option) from None
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


def window_from_options(since: str | None, until: str | None):
    from ingest.report.data import DEFAULT_DAYS, Window

    end = parse_time(until, "--until") if until else datetime.now(timezone.utc)
    if since is None:
        start = end - timedelta(days=DEFAULT_DAYS)
    elif m := DURATION.match(since.strip()):
        start = end - float(m.group(1)) * UNIT[m.group(2)]
    else:
        start = parse_time(since, "--since")
    if start >= end:
        raise click.BadParameter(f"--since ({start.isoformat()}) is not before --until ({end.isoformat()})")
    return Window(start, end)


@click.command("report")
@click.option("--out", default="report.html", show_default=True, type=click.Path(dir_okay=False),
              help="The HTML file to write.")
@click.option("--since", help="Start: a UTC date/time (2024-06-01, 2024-06-01T12:00), epoch seconds or ms, "
                              "or a span before --until (7d, 12h).  [default: 30d]")
@click.option("--until", help="End, exclusive: a UTC date/time or epoch seconds or ms.  [default: now]")
def report(out: str, since: str | None, until: str | None) -> None:
    """Write one self-contained HTML page about the data in INGEST_DATABASE_URL over a range: coverage
    heatmap (instrument x UTC day: complete, partial, missing), open gaps, quarantine summary, basis
    term structure and constant-maturity basis, funding history, ATM implied volatility term
    structure and constant-maturity ATM volatility. Plotly's JavaScript is inlined (about 5 MB): the
    page fetches nothing when opened. Read-only: the `analyst` role can run it. Sections without data
    say so. docs/report.md describes every plot.

    Exit status: 0 written, 1 a database error, 2 usage error, 4 the database cannot be reached.

    \b
    Example:
        ingest report                                   # the last 30 days -> report.html
        ingest report --out /tmp/week.html --since 7d
        ingest report --since 2024-06-01 --until 2024-07-01
    """
    from ingest.cli import _run_db, _settings
    from ingest.report import write_report
    from ingest.storage.db import connect

    window = window_from_options(since, until)
    settings = _settings()

    def run():
        with connect(settings.database_url, autocommit=True) as conn:
            return write_report(conn, out, window, settings.safe_database_url)

    path = _run_db(run, settings)
    click.echo(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB): {window.since:%Y-%m-%d %H:%M} to "
               f"{window.until:%Y-%m-%d %H:%M} UTC")
