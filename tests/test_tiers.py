"""Every test has exactly one tier (unit, integration, e2e), and pytest's -m selects by it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _collect(tmp_path: Path, *args: str) -> tuple[dict[str, list[str]], set[str]]:
    report = tmp_path / f"tiers{len(args)}.json"
    env = dict(os.environ, INGEST_TEST_TIER_REPORT=str(report))
    proc = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                           *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode in (0, 5), proc.stdout[-3000:] + proc.stderr[-3000:]
    selected = {line for line in proc.stdout.splitlines() if "::" in line and not line.startswith(" ")}
    return json.loads(report.read_text()), selected


def test_every_test_has_exactly_one_tier_and_markers_select_them(tmp_path):
    tiers, everything = _collect(tmp_path)
    assert len(tiers) > 300 and set(tiers) == everything
    wrong = {test: found for test, found in tiers.items() if len(found) != 1}
    assert not wrong, f"tests without exactly one tier: {wrong}"
    by_tier = {t: {test for test, found in tiers.items() if found == [t]} for t in ("unit", "integration", "e2e")}
    assert all(by_tier.values()), {t: len(v) for t, v in by_tier.items()}
    # what the Makefile's targets select: `make test-fast` = unit + integration, the rest is e2e
    _, fast = _collect(tmp_path, "-m", "unit or integration")
    assert fast == by_tier["unit"] | by_tier["integration"]
    _, e2e = _collect(tmp_path, "-m", "e2e", "tests/test_live_collector.py", "tests/test_schema.py")
    assert e2e == {t for t in by_tier["e2e"] if t.startswith(("tests/test_live_collector.py", "tests/test_schema.py"))}
    # a few that must be where they are
    assert "tests/test_live_collector.py::test_sigterm_exits_0_and_releases_the_lease" in by_tier["e2e"]
    assert "tests/test_schema.py::test_six_data_tables_are_hypertables" in by_tier["integration"]
    assert "tests/test_deribit_calendar.py" in {t.split("::")[0] for t in by_tier["unit"]}
    assert not any(t.startswith("tests/test_deribit_calendar.py") for t in by_tier["integration"] | by_tier["e2e"])
