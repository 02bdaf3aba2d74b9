"""The dataset registry is the one list: every registered dataset is reachable from `ingest backfill`,
`ingest run` and `ingest status`, under its one name."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from ingest import datasets
from ingest.backfill.cli import backfill as backfill_cli
from ingest.live.cli import _jobs
from ingest.live.jobs import job_table
from ingest.live.status import collect
from ingest.storage.sqlfiles import query

FRESHNESS_COLUMNS = ["dataset", "grp", "last_ts", "rows_24h", "cadence_s", "checked"]


def test_the_registry_holds_the_datasets_in_order():
    names = [d.name for d in datasets.all_datasets()]
    assert {"perpetuals", "futures", "options", "chain", "tickers", "funding", "index", "instruments"} <= set(names)
    orders = [d.order for d in datasets.all_datasets()]
    assert orders == sorted(orders)
    for d in datasets.all_datasets():
        assert d.tables and d.description
        assert d.backfill or d.live, d.name  # a dataset nothing fills is no dataset


@pytest.mark.parametrize("dataset", [d.name for d in datasets.backfillable()])
def test_every_backfill_is_a_subcommand_with_help_and_checkpoints(dataset):
    d = datasets.get(dataset)
    assert d.backfill.checkpoints
    result = CliRunner().invoke(backfill_cli, [dataset, "--help"])
    assert result.exit_code == 0 and "Example:" in result.output, result.output
    listed = CliRunner().invoke(backfill_cli, ["--help"]).output
    assert f"  {dataset} " in listed


@pytest.mark.parametrize("dataset", [d.name for d in datasets.live()])
def test_every_live_job_is_scheduled_under_the_dataset_name(dataset):
    d = datasets.get(dataset)
    spec = job_table()[dataset]
    assert spec.run is d.live.job and spec.schedule == d.live.schedule and spec.spool == d.live.spool
    assert _jobs(dataset) == (dataset,)
    # forward-only data is exactly what the collector spools through a database outage
    assert d.live.spool == d.forward_only


def test_status_reports_every_dataset_and_runs_each_freshness_query(db, migrated_url):
    for d in datasets.all_datasets():
        if d.freshness is not None:
            cur = db.execute(query(d.freshness.query))
            assert [c.name for c in cur.description] == FRESHNESS_COLUMNS, d.name
    report = collect(migrated_url)
    catalogue = {c["dataset"]: c for c in report["catalogue"]}
    assert set(catalogue) == {d.name for d in datasets.all_datasets()}
    assert catalogue["chain"]["forward_only"] and not catalogue["perpetuals"]["forward_only"]
    expected = {f"{d.name}/{g} (no rows)" for d in datasets.all_datasets() if d.freshness
                for g in d.freshness.expected}
    assert expected and expected <= set(report["stale"])  # an empty database: every expected series missing
