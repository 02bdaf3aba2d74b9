"""`ingest check-api` against the simulator (both option-summary shapes present by default), against
answers rewritten so that the ingester would lose data, and against no exchange at all."""

from __future__ import annotations

import json

from click.testing import CliRunner

from ingest.check_api import check_api_command
from ingest.sim.server import SimServer
from tests.rewriting_proxy import RewritingProxy

NOW = "2024-06-01T12:00:00Z"


def run(api: str, history: str, *args):
    env = {"DERIBIT_API_URL": api, "DERIBIT_HISTORY_URL": history, "DERIBIT_HTTP_TIMEOUT": "3"}
    return CliRunner().invoke(check_api_command, list(args), env=env)


def test_the_simulator_answers_as_the_parsers_expect():
    with SimServer(seed=7, now=NOW) as sim:
        r = run(sim.api_url, sim.history_url, "--json")
    assert r.exit_code == 0, r.output
    findings = json.loads(r.output)["findings"]
    methods = {f["method"] for f in findings}
    assert {"get_time", "get_instruments", "get_tradingview_chart_data", "get_tradingview_chart_data (1D)",
            "get_funding_rate_history", "get_delivery_prices", "get_index_price", "get_book_summary_by_currency",
            "ticker", "get_last_trades_by_currency_and_time"} <= methods
    assert all(f["level"] in ("ok", "note") for f in findings)
    summary = next(f for f in findings if f["method"] == "get_book_summary_by_currency")
    # the simulator serves option summaries with and without mark_iv, as the real exchange does
    assert summary["level"] == "note" and "without mark_iv" in summary["detail"]


def test_an_answer_the_ingester_would_lose_is_a_loss_with_exit_1():
    def rewrite(method, params, body):
        if method == "get_book_summary_by_currency":
            for item in body["result"]:
                item.pop("underlying_price", None)  # no fallback can recover the forward
        if method == "get_tradingview_chart_data" and params.get("resolution") == "1":
            body["result"]["close"] = None
        return body

    with SimServer(seed=7, now=NOW) as sim, RewritingProxy(sim.base_url, rewrite) as proxy:
        r = run(proxy.url + "/api/v2", proxy.url + "/history/api/v2")
    assert r.exit_code == 1, r.output
    lines = r.output.splitlines()
    book = next(line for line in lines if line.startswith("get_book_summary_by_currency"))
    assert "LOSS" in book and "underlying_price" in book
    chart = next(line for line in lines if line.startswith("get_tradingview_chart_data "))
    assert "LOSS" in chart and "arrays missing or null: close" in chart
    assert lines[-1].endswith("0 unreachable") and " 2 loss(es)" in lines[-1]


def test_no_exchange_is_unreachable_with_exit_2():
    r = run("http://127.0.0.1:9/api/v2", "http://127.0.0.1:9/history/api/v2")
    assert r.exit_code == 2
    assert "UNREACHABLE" in r.output
