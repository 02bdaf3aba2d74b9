"""The two engines side by side: `ingest db status` names the engine it talks to, `make test` deselects the
tests marked `native` (reported as deselected, never skipped) and `make test-native` runs the whole suite
with them, and a native test run against the embedded server fails with the way to run it.

These tests run on both engines (they carry no `native` marker).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import psycopg
from click.testing import CliRunner

from ingest.cli import cli

ROOT = Path(__file__).resolve().parent.parent
# modules whose every test is marked native (others may mark some of theirs)
NATIVE_MODULES = ("tests/test_native_concurrency.py", "tests/test_native_jobs.py", "tests/test_native_migrations.py")


def test_db_status_names_the_engine(migrated_url):
    with psycopg.connect(migrated_url, autocommit=True) as conn:
        # the embedded proxy answers every client itself: no backend process, pid 0
        embedded = conn.execute("SELECT pg_backend_pid()").fetchone()[0] == 0
        version = conn.execute("SHOW server_version").fetchone()[0].split()[0]
        timescaledb = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'").fetchone()[0]
    result = CliRunner().invoke(cli, ["db", "status"], env={"INGEST_DATABASE_URL": migrated_url})
    engine = [line for line in result.output.splitlines() if line.startswith("engine ")]
    assert len(engine) == 1, result.output
    if embedded:
        assert re.match(rf"engine +embedded: PGlite \(PostgreSQL {re.escape(version)} in WASM\) \+ TimescaleDB "
                        rf"{re.escape(timescaledb)} behind the project's wire proxy", engine[0]), engine
    else:
        assert re.fullmatch(rf"engine +native: PostgreSQL {re.escape(version)} \+ TimescaleDB "
                            rf"{re.escape(timescaledb)}", engine[0]), engine
    as_json = CliRunner().invoke(cli, ["db", "status", "--json"], env={"INGEST_DATABASE_URL": migrated_url})
    assert ('"engine": "embedded"' if embedded else '"engine": "native"') in as_json.output


def _make_pytest_args(target: str) -> list[str]:
    """The pytest arguments of a Makefile target's recipe, as `make -n` prints them."""
    out = subprocess.run(["make", "-n", target], cwd=ROOT, capture_output=True, text=True, timeout=60,
                         env=dict(os.environ, ENGINE="embedded")).stdout
    (line,) = [line for line in out.splitlines() if "/pytest " in line]
    words = shlex.split(line)
    return words[next(i for i, w in enumerate(words) if w.endswith("/pytest")) + 1:]


def _collect(*args: str) -> set[str]:
    proc = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert proc.returncode in (0, 5), proc.stdout[-3000:] + proc.stderr[-3000:]
    return {line for line in proc.stdout.splitlines() if "::" in line and not line.startswith(" ")}


def test_make_test_deselects_the_native_tests_and_make_test_native_runs_everything():
    test_args, native_args = _make_pytest_args("test"), _make_pytest_args("test-native")
    assert "-m" in test_args and "-m" not in native_args, (test_args, native_args)
    everything = _collect()
    native = _collect("-m", "native")
    assert set(NATIVE_MODULES) <= {t.split("::")[0] for t in native}, native
    by_make_test = _collect(*[a for a in test_args if a not in ("-q",)])
    assert by_make_test == everything - native
    assert _collect(*[a for a in native_args if a not in ("-q",)]) == everything


def test_a_native_test_fails_on_the_embedded_server_instead_of_skipping(tmp_path):
    from ingest.embedded import EmbeddedServer

    with EmbeddedServer(data="memory") as server:
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rfEs",
             "tests/test_native_jobs.py::test_the_analytics_job_fires_by_itself"],
            cwd=ROOT, env=dict(os.environ, INGEST_TEST_DATABASE_URL=server.url), capture_output=True, text=True,
            timeout=240)
    assert proc.returncode == 1, proc.stdout[-3000:]
    assert "1 error" in proc.stdout and "skipped" not in proc.stdout, proc.stdout[-3000:]
    assert "needs a native TimescaleDB" in proc.stdout and "make test-native" in proc.stdout
