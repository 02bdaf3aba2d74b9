"""Historical backfill: `ingest backfill <dataset>|all`, for every registered dataset that declares a
backfill (ingest/datasets/).

Plain Python API (the CLI in ingest/backfill/cli.py is a thin layer over it):

    from ingest.backfill import backfill
    result = backfill("perpetuals", client, conn, since_ms=..., until_ms=..., instruments=[...])
    result.status, result.stats, result.failed, result.text

Modules: planning (the run's Context, window grids, candle windows, probes), checkpoints
(backfill_checkpoints), engine (prefetching window pump, load + checkpoint in one transaction,
concurrency following the round trip), progress (bar, log lines, summary), runner (the whole run).
"""

from ingest.backfill.runner import Result, backfill, backfill_names

__all__ = ["Result", "backfill", "backfill_names"]
