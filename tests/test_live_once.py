"""`ingest run --once` as a process: its exit statuses when the database does not answer (3, at once,
with the DSN redacted) and when another process leads (2)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

INGEST = [str(Path(sys.executable).with_name("ingest"))]


def _once(env_extra, *args, timeout=120):
    env = dict(os.environ, DERIBIT_API_URL="http://127.0.0.1:9/api/v2", DERIBIT_HISTORY_URL="http://127.0.0.1:9/h",
               **env_extra)
    t0 = time.monotonic()
    p = subprocess.run(INGEST + ["run", "--once", *args], env=env, capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout + p.stderr, time.monotonic() - t0


def test_unreachable_database_exits_3_at_once_with_a_redacted_dsn(tmp_path):
    url = "postgresql://ingest:pw%20with%20space@127.0.0.1:1/deribit"
    rc, out, took = _once({"INGEST_DATABASE_URL": url, "INGEST_SPOOL_DIR": str(tmp_path / "spool")},
                          "--lease-seconds", "30")
    assert rc == 3, out
    assert "database unreachable: postgresql://ingest:***@127.0.0.1:1/deribit" in out
    assert "pw" not in out.replace("***", "") and "space" not in out
    assert "another process" not in out and "Traceback" not in out
    assert took < 20, took  # not after two lease periods (60 s)


def test_another_leader_exits_2(db, migrated_url, tmp_path):
    db.execute("INSERT INTO leader_lease VALUES ('ingest-run', 'elsewhere:1:abc', now(), now(), "
               "now() + interval '10 minutes')")
    rc, out, took = _once({"INGEST_DATABASE_URL": migrated_url, "INGEST_SPOOL_DIR": str(tmp_path / "spool")},
                          "--lease-seconds", "3", "--jobs", "index")
    assert rc == 2, out
    assert "another process holds the lease" in out
    assert db.execute("SELECT holder FROM leader_lease").fetchone()[0] == "elsewhere:1:abc"
