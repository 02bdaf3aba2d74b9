"""The simulated Deribit exchange (``ingest sim``).

Deribit cannot be reached from CI or the development machines, so every test, demo and benchmark
runs against this simulator.  It plays both www.deribit.com (``/api/v2``) and history.deribit.com
(``/history/api/v2``) over real HTTP, with Deribit's envelopes, errors, limits and quirks as written in
docs/deribit-api.md; see docs/simulator.md.

* :class:`ingest.sim.server.SimServer` – the HTTP server, usable in-process::

      with SimServer(seed=7, now="2024-06-01T00:00:00Z", rate_limit=True, faults=None, port=0) as sim:
          sim.api_url, sim.history_url, sim.base_url, sim.stats(), sim.reset_stats(),
          sim.set_faults("11094:0.05"), sim.set_now("2024-06-02T00:00:00Z"), sim.market

* :class:`ingest.sim.market.Market` – the deterministic market model (ground truth for tests).
* :data:`ingest.sim.cli.sim` – the click command ``ingest sim``.
"""

from ingest.sim.market import Market
from ingest.sim.server import SimServer

__all__ = ["Market", "SimServer"]
