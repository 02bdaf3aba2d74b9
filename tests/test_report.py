"""`ingest report` on the sample of tests/test_report_sample.py, read as `analyst`: the numbers of each
section against what the sample was built with, and the page in headless Chromium (no console error,
no network request, every plot has data)."""

from __future__ import annotations

import json
import os
import re
import shutil
from contextlib import contextmanager
from datetime import datetime, timedelta

import click
import psycopg
import pytest
from click.testing import CliRunner

from ingest.cli import cli
from ingest.report import Window, build_report, fetch
from ingest.report.cli import window_from_options
from ingest.report.data import COMPLETE, LIVE_TAIL, MISSING, PARTIAL, CoverageCell

from .test_report_chromium import PLOTS_DRAWN_JS, PLOTS_JS, Browser
from .test_report_sample import CURRENCIES, UTC, wiped_and_loaded

PLOT_IDS = {"plot-coverage", "plot-basis-term-structure", "plot-basis-history", "plot-funding",
            "plot-atm-term-structure", "plot-atm-history"}


@pytest.fixture(scope="module")
def sample_db(migrated_url):
    with psycopg.connect(migrated_url, autocommit=True) as conn:
        yield conn, wiped_and_loaded(conn)


@contextmanager
def as_analyst(conn):
    conn.execute("SET ROLE analyst")
    try:
        yield conn
    finally:
        conn.execute("RESET ROLE")


def sample_window(sample) -> Window:
    return Window(sample.start - timedelta(days=1), sample.now + timedelta(minutes=1))


@pytest.fixture(scope="module")
def data(sample_db):
    conn, sample = sample_db
    with as_analyst(conn):
        return fetch(conn, sample_window(sample))


def cells(data, name):
    return {c.day: c for c in data.coverage if c.instrument_name == name}


def test_coverage_days_are_complete_partial_missing_as_loaded(sample_db, data):
    _, sample = sample_db
    day_before, today = sample.start.replace(hour=0) - timedelta(days=1), sample.now.replace(hour=0, minute=0)
    perp = cells(data, "BTC-PERPETUAL")
    # four UTC days: the window starts the day before the first candle's day
    assert sorted(perp) == [day_before + timedelta(days=i) for i in range(4)]
    assert perp[day_before].status == MISSING and perp[day_before].stored == 0
    assert perp[sample.start.replace(hour=0)].stored == 12 * 60  # from noon
    assert perp[sample.start.replace(hour=0)].status == PARTIAL
    assert perp[sample.yesterday].stored == 1440 - 120 and perp[sample.yesterday].status == PARTIAL
    # today's minutes are expected up to LIVE_TAIL before the query's now(): none in the first minutes
    # after 00:00 UTC (the loader and the query run a little apart: a minute of slack either way)
    assert perp[today].status == (COMPLETE if perp[today].expected > 0 else None)
    assert perp[today].expected > 0 or sample.now - today <= LIVE_TAIL + timedelta(minutes=1)
    assert cells(data, "ETH-PERPETUAL")[sample.yesterday].status == COMPLETE
    lost = cells(data, sample.missing_day_instrument)[sample.yesterday]
    assert lost.status == MISSING and lost.expected == 1440
    # every loaded future and both perpetuals have a row; days before a listing are not expected
    names = {c.instrument_name for c in data.coverage}
    assert names == {f"{c}-PERPETUAL" for c in CURRENCIES} | {f for c in CURRENCIES for f in sample.futures[c]}
    assert all(c.status is None for c in data.coverage if c.expected == 0 and c.stored == 0)
    assert all(c.status == COMPLETE for c in data.coverage if c.day == today and c.expected > 0)


def test_gaps_and_quarantine_are_the_ones_loaded(sample_db, data):
    _, sample = sample_db
    hole = [g for g in data.gaps if g["instrument_name"] == "BTC-PERPETUAL" and g["gap_start"] == sample.hole_start]
    assert len(hole) == 1 and hole[0]["gap_end"] == sample.hole_end and hole[0]["missing_in_range"] == 120
    day = [g for g in data.gaps if g["instrument_name"] == sample.missing_day_instrument
           and g["gap_start"] == sample.yesterday]
    assert len(day) == 1 and day[0]["missing_minutes"] == 1440
    # every gap overlaps the window, and what is counted in range never exceeds the gap
    w = data.window
    assert all(g["gap_end"] > w.since and g["gap_start"] < w.until for g in data.gaps)
    assert all(0 < g["missing_in_range"] <= g["missing_minutes"] for g in data.gaps)
    assert sum(q["payloads"] for q in data.quarantine) == sample.quarantined == 2
    assert {q["reason"] for q in data.quarantine} == {"timestamp not on the hour", "index_price is not positive"}


def test_term_structures_funding_and_histories_hold_the_sample(sample_db, data):
    _, sample = sample_db
    for currency in CURRENCIES:
        futures = [r["future"] for r in data.basis_term_structure if r["currency"] == currency]
        assert futures == sample.futures[currency]  # every live future, by expiry
        atm = [r for r in data.atm_term_structure if r["currency"] == currency]
        assert atm and all(30 < r["atm_iv"] < 200 for r in atm if r["atm_iv"] is not None)
        assert {r["snapshot_ts"] for r in atm} == {sample.snapshot_minutes[-1]}
    hours = int((sample.now - sample.start) / timedelta(hours=1))
    for perp in ("BTC-PERPETUAL", "ETH-PERPETUAL"):
        assert len([r for r in data.funding_hourly if r["instrument_name"] == perp]) in (hours, hours + 1)
    assert {r["tenor_days"] for r in data.basis_history} == {30, 60, 90, 180}
    assert {r["tenor_days"] for r in data.atm_history} == {7, 30, 60, 90, 180}
    assert len({r["ts"] for r in data.atm_history}) == 2  # the two snapshot hours


def test_page_loads_in_chromium_without_errors_and_every_plot_has_data(sample_db, tmp_path):
    conn, sample = sample_db
    with as_analyst(conn):
        page = build_report(conn, sample_window(sample), "the sample")
    path = tmp_path / "report.html"
    path.write_text(page, encoding="utf-8")
    browser = Browser()
    try:
        run = browser.open(path, settle=PLOTS_DRAWN_JS)
        plots = json.loads(browser.evaluate(PLOTS_JS))
        shot = browser.screenshot(tmp_path / "report.png")
    finally:
        browser.close()
    assert run.console_errors == []
    assert [u for u in run.requests if not u.startswith(("file:", "data:", "blob:", "about:"))] == []
    assert {p["id"] for p in plots} == PLOT_IDS
    for p in plots:
        assert p["points"] and all(n > 0 for n in p["points"]), p
        assert not any("no data" in a for a in p["annotations"]), p
    assert shot.stat().st_size > 50_000
    if os.environ.get("INGEST_REPORT_SCREENSHOT"):  # to look at it: the path to copy it to
        shutil.copy(shot, os.environ["INGEST_REPORT_SCREENSHOT"])


def test_command_writes_the_page(sample_db, migrated_url, tmp_path, monkeypatch):
    _, sample = sample_db
    monkeypatch.setenv("INGEST_DATABASE_URL", migrated_url)
    out = tmp_path / "r.html"
    result = CliRunner().invoke(cli, ["report", "--out", str(out), "--since", "3d",
                                      "--until", sample.now.isoformat()])
    assert result.exit_code == 0, result.output
    assert f"wrote {out}" in result.output
    text = out.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and "BTC-PERPETUAL" in text
    # nothing to fetch: no element refers to a file (the browser test watches the network too)
    tags = re.findall(r"<(?:script|link|img|iframe)\b[^>]*>", text)
    assert tags and not [t for t in tags if "src=" in t or "href=" in t]


def test_command_names_an_unreachable_database(tmp_path, monkeypatch):
    monkeypatch.setenv("INGEST_DATABASE_URL", "postgresql://analyst:s3cret@127.0.0.1:1/deribit")
    result = CliRunner().invoke(cli, ["report", "--out", str(tmp_path / "r.html")])
    assert result.exit_code == 4
    assert "127.0.0.1" in result.output and "s3cret" not in result.output
    assert not (tmp_path / "r.html").exists()


def test_window_options():
    w = window_from_options("7d", "2024-06-08")
    assert (w.since, w.until) == (w.until - timedelta(days=7), w.until)
    assert w.until.tzinfo is not None and w.until.hour == 0 and w.until.utcoffset() == timedelta(0)
    w = window_from_options("2024-06-01T12:00", "1717372800")  # epoch seconds: 2024-06-03 00:00 UTC
    assert w.since.isoformat() == "2024-06-01T12:00:00+00:00" and w.until.isoformat() == "2024-06-03T00:00:00+00:00"
    assert window_from_options(None, "2024-06-30").since.isoformat() == "2024-05-31T00:00:00+00:00"
    with pytest.raises(click.BadParameter):
        window_from_options("2024-07-01", "2024-06-01")
    with pytest.raises(click.BadParameter):
        window_from_options("yesterday", None)


def test_cell_status():
    def cell(stored, expected):
        return CoverageCell("futures_ohlcv", "BTC-27DEC24", "BTC", None, None, stored, expected)

    assert cell(1440, 1440).status == COMPLETE
    assert cell(1441, 1400).status == COMPLETE
    assert cell(1, 1440).status == PARTIAL
    assert cell(0, 60).status == MISSING
    assert cell(0, 0).status is None
    assert cell(5, 0).status == COMPLETE  # candles outside the listed life are not a hole


def test_since_must_be_before_until():
    day = datetime(2024, 6, 1, tzinfo=UTC)
    with pytest.raises(ValueError):
        Window(day, day)
    with pytest.raises(ValueError):
        Window(day.replace(tzinfo=None), day + timedelta(days=1))
