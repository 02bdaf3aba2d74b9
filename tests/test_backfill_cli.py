"""The click layer: help with examples, --dry-run prints the plan and fetches no data."""

from __future__ import annotations

from click.testing import CliRunner

from ingest.backfill.cli import backfill, parse_when
from ingest.sim.server import SimServer


def test_every_subcommand_has_help_with_an_example():
    runner = CliRunner()
    for name in ("perpetuals", "futures", "options", "funding", "index", "all"):
        out = runner.invoke(backfill, [name, "--help"])
        assert out.exit_code == 0 and "Example" in out.output and "--dry-run" in out.output


def test_parse_when():
    assert parse_when("2024-06-01") == 1717200000000
    assert parse_when("2024-06-01T00:00:00Z") == 1717200000000
    assert parse_when("1717200000000") == 1717200000000


def test_dry_run_prints_the_plan_and_sends_no_data_request(db, migrated_url):
    with SimServer(seed=7, now="2024-06-01T00:00:00Z", rate_limit=True) as sim:
        env = {"DERIBIT_API_URL": sim.api_url, "DERIBIT_HISTORY_URL": sim.history_url,
               "INGEST_DATABASE_URL": migrated_url}
        out = CliRunner().invoke(backfill, ["perpetuals", "--dry-run", "--since", "2024-05-01",
                                            "--until", "2024-05-31"], env=env)
        assert out.exit_code == 0, out.output
        assert "BTC-PERPETUAL" in out.output and "ETH-PERPETUAL" in out.output and "requests" in out.output
        assert "get_tradingview_chart_data" not in sim.stats()["by_method"]
    assert db.execute("SELECT count(*) FROM perpetuals_ohlcv").fetchone()[0] == 0
