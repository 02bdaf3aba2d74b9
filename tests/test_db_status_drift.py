"""`ingest db status` as a real process: drift (an object whose definition differs from head's) is named
and exits 3; a database as head defines it exits 0; changed storage settings are a note, not drift."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from ingest.cli import EXIT_DRIFT

INGEST = str(Path(sys.executable).with_name("ingest"))


def _status(url: str, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, INGEST_DATABASE_URL=url)
    return subprocess.run([INGEST, "db", "status", *args], env=env, capture_output=True, text=True, timeout=120)


def test_a_database_as_head_defines_it_has_no_drift(migrated_url):
    proc = _status(migrated_url)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "drift        none" in proc.stdout


def test_a_view_changed_by_hand_is_named_and_exits_3(db, migrated_url):
    original = db.execute("SELECT pg_get_viewdef('futures_basis_1m'::regclass)").fetchone()[0]
    # the same columns, another body: what a hand-made "quick fix" leaves behind
    db.execute(f"CREATE OR REPLACE VIEW futures_basis_1m AS {original.rstrip().rstrip(';')} AND f.close > 0")
    db.execute("ALTER TABLE quarantine ADD COLUMN note text")
    try:
        proc = _status(migrated_url)
        as_json = _status(migrated_url, "--json")
    finally:
        db.execute(f"CREATE OR REPLACE VIEW futures_basis_1m AS {original}")
        db.execute("ALTER TABLE quarantine DROP COLUMN note")
    assert proc.returncode == EXIT_DRIFT == 3, proc.stdout + proc.stderr
    assert "drift        2 (objects whose definition differs from head's)" in proc.stdout
    assert "  view futures_basis_1m: definition differs from head" in proc.stdout
    assert "  table quarantine: columns note not in head" in proc.stdout
    assert "(at head)" in proc.stdout  # the revision alone would say all is well
    assert as_json.returncode == 3
    assert json.loads(as_json.stdout)["drift"] == ["table quarantine: columns note not in head",
                                                   "view futures_basis_1m: definition differs from head"]
    assert _status(migrated_url).returncode == 0  # put back: no drift


def test_changed_storage_settings_are_a_note_not_drift(db, migrated_url):
    db.execute("UPDATE storage_settings SET retain_for = '60 days' WHERE relation = 'options_greeks'")
    db.execute("SELECT * FROM apply_storage_policies()")
    try:
        proc = _status(migrated_url)
    finally:
        db.execute("UPDATE storage_settings SET retain_for = '30 days' WHERE relation = 'options_greeks'")
        db.execute("SELECT * FROM apply_storage_policies()")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "policies     differ from head's defaults" in proc.stdout
    assert 'storage_settings row options_greeks: retain_for is "60 days", head has "30 days"' in proc.stdout
    assert 'job policy_retention options_greeks: config drop_after is "60 days", head has "30 days"' in proc.stdout


def test_the_exit_statuses_are_in_the_help_and_the_readme():
    help_text = subprocess.run([INGEST, "db", "status", "--help"], capture_output=True, text=True).stdout
    assert "3 at head but with drift" in " ".join(help_text.split())
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    row = next(line for line in readme.splitlines() if line.startswith("| `ingest db status` |"))
    assert "3 drift" in row
