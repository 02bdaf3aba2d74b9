"""Historical backfill: `ingest backfill perpetuals|futures|options|funding|index|all`.

Plain Python API (the CLI in ingest/backfill/cli.py is a thin layer over it):

    from ingest.backfill import backfill
    result = backfill("perpetuals", client, conn, since_ms=..., until_ms=..., instruments=[...])
    result.ok, result.stats, result.failed, result.text

Modules: datasets (instruments × windows per dataset), checkpoints (backfill_checkpoints), engine
(prefetching window pump, load + checkpoint in one transaction), progress (bar, log lines, summary),
caggs (continuous-aggregate refresh), runner (the whole run).
"""

from ingest.backfill.runner import ALL_ORDER, DATASETS, INDEX_SOURCES, Result, backfill

__all__ = ["ALL_ORDER", "DATASETS", "INDEX_SOURCES", "Result", "backfill"]
