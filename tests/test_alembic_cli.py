"""`alembic` from the repository root works on INGEST_DATABASE_URL, as Alembic users expect."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from ingest.storage import schema

ROOT = Path(__file__).resolve().parent.parent
ALEMBIC = str(Path(sys.executable).with_name("alembic"))


def _alembic(*args: str, url: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "INGEST_DATABASE_URL"}
    if url:
        env["INGEST_DATABASE_URL"] = url
    return subprocess.run([ALEMBIC, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_alembic_ini_names_no_database_and_no_password():
    text = (ROOT / "alembic.ini").read_text()
    assert "script_location = %(here)s/migrations" in text
    assert "sqlalchemy.url" not in text and "postgresql://" not in text


def test_alembic_history_lists_every_revision():
    proc = _alembic("history")
    assert proc.returncode == 0, proc.stderr
    listed = [line.split(",")[0].split("->")[1].split()[0] for line in proc.stdout.splitlines() if "->" in line]
    assert sorted(listed) == schema.all_revisions()
    assert f"-> {schema.head_revision()} (head)" in proc.stdout


def test_alembic_current_and_upgrade_head_on_ingest_database_url(migrated_url):
    current = _alembic("current", url=migrated_url)
    assert current.returncode == 0, current.stderr
    assert f"{schema.head_revision()} (head)" in current.stdout
    upgrade = _alembic("upgrade", "head", url=migrated_url)  # at head already: nothing to do, exit 0
    assert upgrade.returncode == 0, upgrade.stderr


def test_alembic_downgrade_then_upgrade_moves_the_database(migrated_url):
    previous = schema.all_revisions()[-2]
    try:
        assert _alembic("downgrade", "-1", url=migrated_url).returncode == 0
        assert previous in _alembic("current", url=migrated_url).stdout
    finally:
        upgrade = _alembic("upgrade", "head", url=migrated_url)
    assert upgrade.returncode == 0, upgrade.stderr
    assert f"{schema.head_revision()} (head)" in _alembic("current", url=migrated_url).stdout
