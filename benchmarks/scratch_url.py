"""The --url / --yes-wipe options a benchmark takes to run on a TimescaleDB of yours (e.g. a native one:
scripts/native-timescaledb.sh) instead of the embedded server, which it empties of what it writes."""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import Iterator

import psycopg

from ingest.embedded import EmbeddedServer
from ingest.storage import schema


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


@contextlib.contextmanager
def database(args: argparse.Namespace, tmp: str, wipe: tuple[str, ...]) -> Iterator[tuple[str, int | None]]:
    """(url, pid of the embedded server or None): the embedded server at head in `tmp`, or --url at head
    with the `wipe` statements run first (emptying what the benchmark writes)."""
    if not args.url:
        with EmbeddedServer(data=tmp + "/pg") as srv:
            schema.upgrade(srv.url, "head")
            yield srv.url, srv.pid
        return
    schema.upgrade(args.url, "head")
    with psycopg.connect(args.url, autocommit=True) as conn:
        for statement in wipe:
            conn.execute(statement)
    yield args.url, None
