"""The --url / --yes-wipe options a benchmark takes to run on a TimescaleDB of yours (e.g. a native one:
scripts/native-timescaledb.sh) instead of the embedded server, which it empties of what it writes."""

from __future__ import annotations

import argparse
import os


def add_options(ap: argparse.ArgumentParser, emptied: str) -> None:
    """--url [URL] and --yes-wipe; `emptied` names what the benchmark empties at --url."""
    ap.add_argument("--url", nargs="?", const=os.environ.get("INGEST_DATABASE_URL"),
                    help="a scratch TimescaleDB (default with no value: INGEST_DATABASE_URL); without --url "
                         "the embedded server runs in a temporary directory")
    ap.add_argument("--yes-wipe", action="store_true", help=f"allow emptying {emptied} at --url")


def check(ap: argparse.ArgumentParser, args: argparse.Namespace, emptied: str) -> None:
    """Refuse --url without --yes-wipe, saying what would be emptied."""
    if args.url and not args.yes_wipe:
        ap.error(f"--url empties {emptied} there: add --yes-wipe")
