"""`ingest report` on a migrated database without data: the page builds, every plot says it has no data,
the tables say so too, and Chromium shows it without a console error. Also: the browser check itself
sees console errors, exceptions and network requests (else the report's browser test could not fail)."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from click.testing import CliRunner

from ingest.cli import cli
from ingest.report import Window, fetch
from ingest.report.figures import NO_DATA, PLOTS

from .test_report_chromium import PLOTS_DRAWN_JS, PLOTS_JS, Browser

UTC = timezone.utc


def test_empty_database_gives_a_page_whose_plots_say_no_data(db, migrated_url, tmp_path, monkeypatch):
    db.execute("SET ROLE analyst")
    try:
        data = fetch(db, Window(datetime(2024, 6, 1, tzinfo=UTC), datetime(2024, 7, 1, tzinfo=UTC)))
    finally:
        db.execute("RESET ROLE")
    assert data.coverage == [] and data.gaps == [] and data.quarantine == []
    for _, build in PLOTS:
        fig = build(data)
        assert len(fig.data) == 0 and [a.text for a in fig.layout.annotations] == [NO_DATA]

    monkeypatch.setenv("INGEST_DATABASE_URL", migrated_url)
    out = tmp_path / "empty.html"
    result = CliRunner().invoke(cli, ["report", "--out", str(out), "--since", "2024-06-01", "--until", "2024-07-01"])
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8")
    assert "no open gaps in this range" in text and "nothing quarantined in this range" in text

    browser = Browser()
    try:
        run = browser.open(out, settle=PLOTS_DRAWN_JS)
        plots = json.loads(browser.evaluate(PLOTS_JS))
    finally:
        browser.close()
    assert run.console_errors == [] and all(u.startswith("file:") for u in run.requests)
    assert len(plots) == len(PLOTS)
    assert all(p["points"] == [] and p["annotations"] == [NO_DATA] for p in plots)


@pytest.mark.integration  # a browser process of ours
def test_the_browser_check_sees_errors_and_requests(tmp_path):
    page = tmp_path / "bad.html"
    page.write_text("<!DOCTYPE html><html><body><script>"
                    "console.error('boom'); fetch('http://127.0.0.1:9/nothing').catch(() => {});"
                    "setTimeout(() => { document.body.dataset.done = '1'; undefinedFunction(); }, 10);"
                    "</script></body></html>")
    browser = Browser()
    try:
        run = browser.open(page, settle="document.body.dataset.done === '1'")
    finally:
        browser.close()
    assert any("boom" in e for e in run.console_errors)
    assert any("undefinedFunction" in e for e in run.console_errors)
    assert "http://127.0.0.1:9/nothing" in run.requests
