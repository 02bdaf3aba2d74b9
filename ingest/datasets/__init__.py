"""The dataset registry: every module of this package that declares `DATASET = Dataset(...)` (see
base.py). `ingest backfill`, `ingest run` and `ingest status` iterate `all_datasets()`; nothing else
lists datasets. Adding one is adding its module (docs/datasets.md, "Adding a dataset").

Modules without a DATASET are shared helpers of several datasets (candles, greeks)."""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from ingest.datasets.base import Dataset
from ingest.storage.tables import TableSpec


@cache
def all_datasets() -> tuple[Dataset, ...]:
    """Every declared dataset, in their `order`."""
    found = []
    for info in pkgutil.iter_modules(__path__):
        if info.name == "base":
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        dataset = getattr(module, "DATASET", None)
        if isinstance(dataset, Dataset):
            found.append(dataset)
    names = [d.name for d in found]
    duplicated = {n for n in names if names.count(n) > 1}
    if duplicated:
        raise RuntimeError(f"datasets declared twice: {sorted(duplicated)}")
    return tuple(sorted(found, key=lambda d: (d.order, d.name)))


def get(name: str) -> Dataset:
    for d in all_datasets():
        if d.name == name:
            return d
    raise KeyError(f"unknown dataset {name!r}; one of {', '.join(d.name for d in all_datasets())}")


def backfillable() -> tuple[Dataset, ...]:
    return tuple(d for d in all_datasets() if d.backfill is not None)


def live() -> tuple[Dataset, ...]:
    return tuple(d for d in all_datasets() if d.live is not None)


def data_tables() -> tuple[TableSpec, ...]:
    """The tables the datasets write (each once), in dataset order."""
    out: dict[str, TableSpec] = {}
    for d in all_datasets():
        for t in d.tables:
            out.setdefault(t.name, t)
    return tuple(out.values())
