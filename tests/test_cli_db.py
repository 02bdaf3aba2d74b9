"""`ingest db ...` through click's CliRunner against the test database."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import psycopg
import pytest
from click.testing import CliRunner
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from ingest.cli import cli
from ingest.storage import schema
from ingest.storage.schema import head_revision


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


# A password of every shape, each holding the two words SECRET_WORDS: neither may ever be printed.
SECRET_WORDS = ("s3cr3t", "w0rd")
PASSWORD_SHAPES = {
    "url": "postgresql://ingest:s3cr3tw0rd@{host}:{port}/deribit",
    "url-space": "postgresql://ingest:s3cr3t w0rd@{host}:{port}/deribit",
    "url-raw-at": "postgresql://ingest:s3cr3t@w0rd@{host}:{port}/deribit",
    "url-space-and-at": "postgresql://ingest:s3cr3t @ w0rd@{host}:{port}/deribit",
    "url-percent": "postgresql://ingest:s3cr3t%40w0rd%20@{host}:{port}/deribit",
    "url-query": "postgresql://{host}:{port}/deribit?user=ingest&password=s3cr3t%20w0rd",
    "url-query-raw": "postgresql://{host}:{port}/deribit?user=ingest&password=s3cr3t w0rd&sslmode=disable",
    "kv-quoted": "host={host} port={port} user=ingest password='s3cr3t w0rd' dbname=deribit",
    "kv-escaped": "host={host} port={port} user=ingest password='s3cr3t\\'w0rd' dbname=deribit",
    "kv-unquoted": "host={host} port={port} user=ingest password=s3cr3tw0rd dbname=deribit",
    "ipv6": "postgresql://ingest:s3cr3t w0rd@[::1]:{port}/deribit",
}
# DSNs libpq would reject, echoing part of them
MALFORMED = {
    "ipv6-unclosed": "postgresql://ingest:s3cr3t w0rd@[::1:{port}/deribit",
    "kv-unquoted-space": "host={host} port={port} user=ingest password=s3cr3t w0rd dbname=deribit",
    "kv-unclosed-quote": "host={host} port={port} password='s3cr3t w0rd dbname=deribit",
    "port-not-a-number": "postgresql://ingest:s3cr3t w0rd@{host}:port{port}/deribit",
    "no-host-before-password": "postgresql://ingest:s3cr3tw0rd/deribit",
}
# every command that needs the database, and its documented exit status when it cannot connect
DB_COMMANDS = [
    (["db", "status"], 4),
    (["db", "upgrade"], 4),
    (["db", "downgrade", "--revision", "base", "--yes"], 4),
    (["db", "wait", "--timeout", "1"], 4),
    (["db", "apply-policies"], 4),
    (["backfill", "perpetuals", "--since", "2024-01-01", "--until", "2024-01-02"], 4),
    (["status"], 2),
]


def _assert_clean(result, args, code):
    assert result.exit_code == code, (args, result.output)
    for word in SECRET_WORDS:
        assert word not in result.output, (args, result.output)
    # an uncaught exception would be a traceback outside CliRunner
    assert isinstance(result.exception, SystemExit), (args, result.exception)
    assert "Traceback" not in result.output


@pytest.mark.parametrize("shape", sorted(PASSWORD_SHAPES))
def test_unreachable_database_is_one_clean_line_without_the_password(shape):
    host = "::1" if shape == "ipv6" else "127.0.0.1"
    url = PASSWORD_SHAPES[shape].format(host=host, port=_closed_port())
    for args, code in DB_COMMANDS:
        result = run(args, url)
        _assert_clean(result, args, code)
        lines = [line for line in result.output.splitlines() if line.strip()]
        line = next(line for line in lines if "***" in line)
        assert host in line and ("connect" in line or "not ready" in line), (args, lines)


def test_the_clean_line_names_the_redacted_target():
    port = _closed_port()
    result = run(["db", "status"], f"postgresql://ingest:s3cr3t@w0rd@127.0.0.1:{port}/deribit")
    assert result.output.startswith(f"Error: cannot connect to postgresql://ingest:***@127.0.0.1:{port}/deribit: ")
    assert "Connection refused" in result.output
    assert len(result.output.strip().splitlines()) == 1


@pytest.mark.parametrize("shape", sorted(MALFORMED))
def test_a_malformed_dsn_is_a_clean_error(shape):
    url = MALFORMED[shape].format(host="127.0.0.1", port=_closed_port())
    for args, _ in DB_COMMANDS:
        result = run(args, url)
        # a setting that cannot be used: 1, except `ingest status`, whose 2 means "cannot read the database"
        _assert_clean(result, args, 2 if args == ["status"] else 1)
        assert "INGEST_DATABASE_URL cannot be used" in result.output, (args, result.output)


def test_no_traceback_from_a_real_process():
    """CliRunner catches what a user would see as a traceback; a real process shows it."""
    env = {**os.environ, "INGEST_DATABASE_URL": f"postgresql://ingest:s3cr3t @w0rd@127.0.0.1:{_closed_port()}/d"}
    for args, code in [(["db", "upgrade"], 4), (["status", "--json"], 2),
                       (["backfill", "funding", "--since", "2024-01-01"], 4)]:
        proc = subprocess.run([sys.executable, "-m", "ingest", *args], env=env, capture_output=True, text=True,
                              timeout=120)
        assert proc.returncode == code, (args, proc.stdout, proc.stderr)
        assert "Traceback" not in proc.stderr, (args, proc.stderr)
        for word in SECRET_WORDS:
            assert word not in proc.stdout + proc.stderr, (args, proc.stdout, proc.stderr)


def test_an_unexpected_error_shows_its_traceback_redacted():
    """A bug's traceback is kept (it helps), but a DSN or a password it quotes is not."""
    code = ("import os, sys\n"
            "from ingest import cli\n"
            "@cli.cli.command('boom')\n"
            "def boom():\n"
            "    raise RuntimeError('cannot use ' + os.environ['INGEST_DATABASE_URL'] + ' (s3cr3t w0rd)')\n"
            "sys.argv = ['ingest', 'boom']\n"
            "cli.main()\n")
    env = {**os.environ, "INGEST_DATABASE_URL": "host=db user=u password='s3cr3t w0rd' dbname=d"}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" in proc.stderr
    assert "RuntimeError: cannot use host=db user=u password=*** dbname=d (***)" in proc.stderr, proc.stderr
    for word in SECRET_WORDS:
        assert word not in proc.stderr


def test_an_unknown_revision_is_one_clean_line(migrated_url):
    result = run(["db", "upgrade", "--revision", "nosuchrevision"], migrated_url)
    assert result.exit_code == 1, result.output
    assert "nosuchrevision" in result.output and "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)


def _key_value(url: str) -> str:
    """The test database's URL as key=value pairs; a password with blanks and quotes if it needs none
    (the embedded server and trust authentication ignore it)."""
    params = conninfo_to_dict(url)
    params.setdefault("password", "s3cr3t w0rd 'q' \\ @x 100%")  # '%': Alembic's config interpolates
    return make_conninfo("", **params)


def test_upgrade_and_downgrade_accept_key_value_dsns(migrated_url):
    from alembic.script import ScriptDirectory

    kv = _key_value(migrated_url)
    assert "=" in kv and "://" not in kv
    below_head = ScriptDirectory.from_config(schema.alembic_config("")).get_revision(head_revision()).down_revision
    try:
        result = run(["db", "downgrade", "--revision", below_head, "--yes"], kv)
        assert result.exit_code == 0, result.output
        with psycopg.connect(migrated_url) as conn:
            assert schema.current_revision(conn) == below_head
        result = run(["db", "upgrade"], kv)
        assert result.exit_code == 0, result.output
        assert "password=***" in result.output and "at revision head" in result.output
        for word in SECRET_WORDS:
            assert word not in result.output
        result = run(["db", "status", "--json"], kv)
        assert result.exit_code == 0, result.output
        assert json.loads(result.output)["revision"] == head_revision()
    finally:
        schema.upgrade(migrated_url, "head")


def test_every_command_has_help_with_an_example():
    def walk(group, path):
        for name, command in group.commands.items():
            yield path + [name], command
            if hasattr(command, "commands"):
                yield from walk(command, path + [name])

    for path, _command in walk(cli, []):
        result = CliRunner().invoke(cli, path + ["--help"])
        assert result.exit_code == 0, path
        assert "Example" in result.output, path
