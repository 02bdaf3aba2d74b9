"""``ingest sim``: run the simulated Deribit exchange in the foreground."""

from __future__ import annotations

import signal
import sys

import click

from ingest.sim.server import SimServer, tune_malloc

FAULT_HELP = (
    "Fault spec: comma-separated key:value, e.g. "
    "'11094:0.05,500:0.02,502:0.01,timeout:0.01,reset:0.01,truncate:0.01,malformed:0.01,badtypes:0.01,nan:0.01'. "
    "Probabilities for 11094 (or 10040/13028/13888/10066/11051), 500/502/503/504 (HTML), timeout, reset, "
    "truncate, malformed, badtypes, nan; delay:SECONDS for timeout (default 15); "
    "settlement:SECONDS|on|off for 10041 around 08:00 UTC (default on, 5 s); seed:N; 'none'."
)


@click.command("sim", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8765, show_default=True, type=int, help="Port (0 = any free port).")
@click.option("--seed", default=0, show_default=True, type=int, help="Market seed (deterministic).")
@click.option("--now", "now", default="wall", show_default=True,
              help="Simulator clock: 'wall' or a frozen ISO instant like 2024-06-01T00:00:00Z.")
@click.option("--rate-limit", type=click.Choice(["on", "off"]), default="on", show_default=True,
              help="Deribit's credit limits per client address.")
@click.option("--rate-limit-status", type=click.Choice(["400", "429"]), default="400", show_default=True,
              help="HTTP status of 10028 too_many_requests.")
@click.option("--faults", default=None, help=FAULT_HELP)
@click.option("--archive-after-days", default=7.0, show_default=True, type=float,
              help="www answers 'instrument not found' this many days after expiry.")
@click.option("--expired-window-days", default=30.0, show_default=True, type=float,
              help="get_instruments expired=true lists instruments expired this recently.")
@click.option("--mark-iv-missing", default=0.25, show_default=True, type=click.FloatRange(0.0, 1.0),
              help="Share of option book-summary items without mark_iv (per option and minute; 0 = never, "
                   "1 = always), as in real answers from 2019-2024.")
@click.option("--funding-lower-bound", type=click.Choice(["exclusive", "inclusive"]), default="exclusive",
              show_default=True,
              help="get_funding_rate_history: is the row at start_timestamp returned? (Deribit: exclusive)")
@click.option("--json-variety", type=click.Choice(["on", "off"]), default="on", show_default=True,
              help="Vary number forms (7834 / 7834.0, 2.0e-5 / 0.00002) and envelope key order per answer.")
@click.option("--latency", "latency_ms", default=0.0, show_default=True, type=click.FloatRange(0),
              help="A fixed delay in ms before every answer: the round trip to a distant exchange (300 = 150 ms "
                   "each way, e.g. Asia to London).")
@click.option("--history-latency", "history_latency_ms", default=None, type=click.FloatRange(0),
              help="The same for the history host (default: --latency).")
@click.option("-v", "--verbose", is_flag=True, help="Log every request.")
def sim(host, port, seed, now, rate_limit, rate_limit_status, faults, archive_after_days, expired_window_days,
        mark_iv_missing, funding_lower_bound, json_variety, latency_ms, history_latency_ms, verbose):
    """Run the simulated Deribit exchange (www and history hosts) until Ctrl-C.

    \b
    Example:
        ingest sim --seed 7 --now 2024-06-01T00:00:00Z --rate-limit off --faults 11094:0.05
        ingest sim --mark-iv-missing 1 --funding-lower-bound inclusive --json-variety off
        ingest sim --latency 300          # 150 ms each way
        export DERIBIT_API_URL=http://127.0.0.1:8765/api/v2
        export DERIBIT_HISTORY_URL=http://127.0.0.1:8765/history/api/v2
        curl 'http://127.0.0.1:8765/api/v2/public/get_time'
        curl 'http://127.0.0.1:8765/_sim/stats'
    """
    try:
        server = SimServer(seed=seed, now=now, rate_limit=rate_limit == "on", faults=faults, port=port, host=host,
                           rate_limit_status=int(rate_limit_status), archive_after_days=archive_after_days,
                           expired_window_days=expired_window_days, verbose=verbose,
                           summary_mark_iv_missing=mark_iv_missing,
                           funding_lower_bound_exclusive=funding_lower_bound == "exclusive",
                           json_variety=json_variety == "on", latency_ms=latency_ms,
                           history_latency_ms=history_latency_ms)
    except ValueError as e:
        raise click.BadParameter(str(e)) from None
    tune_malloc()
    server.start()
    click.echo(f"DERIBIT_API_URL={server.api_url}")
    click.echo(f"DERIBIT_HISTORY_URL={server.history_url}")
    click.echo(f"simulated Deribit: seed={seed} now={server.clock.describe()} rate_limit={rate_limit} "
               f"faults={faults or 'none'}; admin at {server.base_url}/_sim/stats", err=True)
    sys.stdout.flush()

    stopping = {"flag": False}

    def _stop(signum, frame):
        stopping["flag"] = True

    old = {s: signal.signal(s, _stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        import time
        while not stopping["flag"]:
            time.sleep(0.2)
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        server.stop()
        click.echo("simulator stopped", err=True)
