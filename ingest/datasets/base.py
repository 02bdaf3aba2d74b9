"""What a dataset declares, in one object: its tables, how history is backfilled (windows and their
checkpoint names), its live job and schedule, how `ingest status` judges its freshness, whether it can
be fetched again later, and its name in the quarantine. `ingest backfill`, `ingest run` and
`ingest status` iterate the registry (ingest/datasets/__init__.py) and nothing else lists datasets.

The name is the one word used everywhere: the `ingest backfill NAME` subcommand, the checkpoint
dataset, the live job (`ingest run --jobs NAME`), the quarantine's `dataset` column and the group
`ingest status` reports.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ingest.storage.tables import TableSpec

# plan(ctx, conn, count, probe, options) -> the windows to fetch, lazily; `count(instrument, start_ms,
# end_ms, done, requests=1)` is called once per planned window (done: a checkpoint contains it;
# requests: what fetching it will take, for the dry run's estimate), `probe` is False for a dry run
# (nothing may be written, probes are estimated), `options` the dataset's own CLI options.
Plan = Callable[..., Iterator[Any]]
# job(ctx, client, minute_ms) -> ingest.live.jobs.JobResult
Job = Callable[..., Any]


@dataclass(frozen=True)
class Backfill:
    plan: Plan
    checkpoints: tuple[str, ...]  # checkpoint dataset names its windows record (--restart forgets them)
    in_all: bool = True  # part of `ingest backfill all`
    # the kinds of --instrument names it takes ('perpetual', 'future', 'option'); empty: none
    instrument_kinds: frozenset = frozenset()
    help: str = ""  # the subcommand's help text (with an example)
    options: tuple = ()  # extra click options of the subcommand (click.option(...) decorators)
    # what a dry run's request count cannot know exactly, said under a plan that holds this dataset
    dry_run_note: str = ""


@dataclass(frozen=True)
class Live:
    job: Job
    schedule: dict  # APScheduler cron fields, e.g. {"second": 4} or {"minute": "*/5", "second": 45}
    on_takeover: bool = False  # run at once when this process becomes the leader
    spool: bool = False  # rows go to the spool while the database does not answer (forward-only data)


@dataclass(frozen=True)
class Freshness:
    query: str  # sql/queries/<query>.sql: (dataset, grp, last_ts, rows_24h, cadence_s, checked) rows
    expected: tuple[str, ...] = ()  # groups a running collector must produce (absent = stale)


@dataclass(frozen=True)
class Dataset:
    name: str
    description: str
    tables: tuple[TableSpec, ...]
    order: int  # position in `backfill all`, the scheduler and `status` (cheap, most used first)
    # True when the exchange cannot serve this data again later: a collector outage costs it forever
    forward_only: bool = False
    backfill: Backfill | None = None
    live: Live | None = None
    freshness: Freshness | None = None
    # the quarantine's `dataset` value for this dataset's rejects (default: the name)
    quarantine_name: str | None = None
    extra: dict = field(default_factory=dict)

    @property
    def quarantine(self) -> str:
        return self.quarantine_name or self.name
