"""`ingest sim` command: help text, and a real foreground run stopped by SIGTERM."""
import signal
import subprocess
import sys

import requests
from click.testing import CliRunner

from ingest.sim.cli import sim


def test_help():
    r = CliRunner().invoke(sim, ["--help"])
    assert r.exit_code == 0
    for opt in ("--host", "--port", "--seed", "--now", "--rate-limit", "--faults", "11094:", "--mark-iv-missing",
                "--funding-lower-bound", "--json-variety", "Example"):
        assert opt in r.output


def test_bad_share():
    r = CliRunner().invoke(sim, ["--mark-iv-missing", "1.5", "--port", "0"])
    assert r.exit_code != 0 and "--mark-iv-missing" in r.output


def test_bad_faults():
    r = CliRunner().invoke(sim, ["--faults", "bogus:1", "--port", "0"])
    assert r.exit_code != 0


def test_python_m_runs_and_stops():
    p = subprocess.Popen([sys.executable, "-m", "ingest.sim", "--port", "0", "--now", "2024-06-01T00:00:00Z",
                          "--rate-limit", "off"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        api = p.stdout.readline().strip().split("=", 1)[1]
        hist = p.stdout.readline().strip().split("=", 1)[1]
        assert api.endswith("/api/v2") and hist.endswith("/history/api/v2")
        assert requests.get(api + "/public/get_time", timeout=5).json()["result"] == 1717200000000
        assert requests.get(hist + "/public/get_time", timeout=5).json()["result"] == 1717200000000
    finally:
        p.send_signal(signal.SIGTERM)
        assert p.wait(10) == 0


def test_latency_delays_every_answer_per_host():
    import time

    import requests

    from ingest.sim.server import SimServer

    with SimServer(seed=1, now="2024-06-01T00:00:00Z", latency_ms=250, history_latency_ms=0) as sim:
        t0 = time.monotonic()
        assert requests.get(sim.api_url + "/public/get_time", timeout=5).json()["result"] > 0
        www = time.monotonic() - t0
        t0 = time.monotonic()
        requests.get(sim.history_url + "/public/get_time", timeout=5)
        history = time.monotonic() - t0
        assert sim.config()["latency_ms"] == 250 and sim.config()["history_latency_ms"] == 0
    assert www >= 0.25 and history < 0.25
