"""The `ingest` command line: a thin click layer over the plain Python API of each module.

Each verb maps to a function of the same name in the module that owns it; this file only parses
options, prints and sets the exit code.
"""

from __future__ import annotations

import sys

import click

from ingest import __version__


class NotImplementedYet(click.ClickException):
    exit_code = 3

    def __init__(self, what: str):
        super().__init__(f"`ingest {what}` is not implemented yet; see the open issues in the README.")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="deribit-ingest")
def cli() -> None:
    """deribit-ingest: Deribit derivatives data into TimescaleDB.

    \b
    Example:
        ingest db serve --embedded &      # a local TimescaleDB without Docker
        ingest db upgrade                 # migrate INGEST_DATABASE_URL to head
        ingest backfill perpetuals        # history of BTC/ETH perpetual candles
        ingest run                        # live collection, every minute
    """


def main() -> None:
    try:
        cli(prog_name="ingest")
    except KeyboardInterrupt:  # pragma: no cover - interactive only
        sys.exit(130)
