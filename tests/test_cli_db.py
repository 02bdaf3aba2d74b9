"""`ingest db ...` through click's CliRunner against the test database."""

from __future__ import annotations

import json
import socket

from click.testing import CliRunner

from ingest.cli import cli
from ingest.schema import head_revision


def run(args, url, **env):
    return CliRunner().invoke(cli, args, env={"INGEST_DATABASE_URL": url, **env})


def test_status_reports_versions_and_head(migrated_url):
    result = run(["db", "status", "--json"], migrated_url)
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert info["at_head"] and info["revision"] == head_revision()
    assert info["timescaledb"].startswith("2.23") and info["timescaledb_license"] == "timescale"
    assert {"perpetuals_ohlcv", "futures_ohlcv", "options_ohlcv", "options_greeks", "funding_rates",
            "index_prices"} <= set(info["hypertables"])


def test_upgrade_is_idempotent(migrated_url):
    result = run(["db", "upgrade"], migrated_url)
    assert result.exit_code == 0, result.output
    assert "at revision head" in result.output


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_database_is_one_clean_line_without_the_password():
    url = f"postgresql://ingest:hunter2secret@127.0.0.1:{_closed_port()}/deribit"
    for args in (["db", "status"], ["db", "upgrade"], ["db", "wait", "--timeout", "1"]):
        result = run(args, url)
        assert result.exit_code == 1, (args, result.output)
        assert "hunter2secret" not in result.output
        assert "ingest:***@127.0.0.1" in result.output
        assert "Traceback" not in result.output


def test_every_command_has_help_with_an_example():
    def walk(group, path):
        for name, command in group.commands.items():
            yield path + [name], command
            if hasattr(command, "commands"):
                yield from walk(command, path + [name])

    for path, _command in walk(cli, []):
        result = CliRunner().invoke(cli, path + ["--help"])
        assert result.exit_code == 0, path
        assert "Example" in result.output or "Not implemented yet" in result.output, path
