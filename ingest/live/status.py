"""What `ingest status` reports, as plain data: freshness per dataset and instrument group, open gaps,
the leader and its lease, the last run of every job, storage per table, the live collector's spool
(rows waiting for the database, read from INGEST_SPOOL_DIR); and which datasets are stale.

    report = collect(url, max_lag_s=300)
    report["stale"]  -> list of "dataset/group" staler than max_lag + the group's cadence
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import psycopg

from ingest import datasets as registry
from ingest.config import redact_dsn
from ingest.live import lease as lease_mod
from ingest.live import spool as spool_mod
from ingest.storage.db import connect
from ingest.storage.sqlfiles import query


def parse_duration(text: str) -> float:
    """'90s', '5m', '2h', '1d' or a number of seconds -> seconds."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", str(text).lower())
    if not m:
        raise ValueError(f"not a duration: {text!r} (e.g. 90s, 5m, 2h)")
    return float(m[1]) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[m[2]]


def _jsonable(v: Any) -> Any:
    if isinstance(v, datetime):
        return v.isoformat()
    if isinstance(v, timedelta):
        return round(v.total_seconds(), 1)
    if hasattr(v, "is_finite"):  # Decimal: counts summed in SQL arrive as numeric
        return int(v) if v.is_finite() and v == v.to_integral_value() else float(v)
    return v


def _rows(conn: psycopg.Connection, sql: str, params: dict | None = None) -> list[dict]:
    cur = conn.execute(sql, params or {})
    names = [c.name for c in cur.description]
    return [{k: _jsonable(v) for k, v in zip(names, row, strict=False)} for row in cur.fetchall()]


def spool_report(spool_dir) -> dict | None:
    """The spool's summary (files, rows, bytes, oldest minute, refused, dropped), None without a dir."""
    if spool_dir is None:
        return None
    try:
        return spool_mod.summary(spool_dir)
    except OSError as exc:
        return {"dir": str(spool_dir), "error": str(exc)}


def collect(url: str, max_lag_s: float = 300.0, gap_days: float = 3.0,
            lease_name: str = lease_mod.DEFAULT_NAME, spool_dir=None) -> dict:
    with connect(url, autocommit=True) as conn:
        now = conn.execute("SELECT now()").fetchone()[0]
        datasets = []
        for d in registry.all_datasets():
            if d.freshness is not None:
                for row in _rows(conn, query(d.freshness.query)):
                    row["forward_only"] = d.forward_only
                    datasets.append(row)
        gaps = _gaps_by_dataset(_rows(conn, query("recent_gaps"), {"days": gap_days, "limit": None}))
        jobs = _rows(conn, query("status_jobs"))
        lease_row = lease_mod.current(conn, lease_name)
        if conn.execute("SELECT to_regclass('storage_usage')").fetchone()[0]:
            storage = _rows(conn, "SELECT relation, kind, approx_rows, bytes_now AS bytes, compression_ratio "
                                  "FROM storage_usage ORDER BY relation")
        else:
            storage = _rows(conn, query("status_storage"))
    stale = []
    seen = set()
    for d in datasets:
        seen.add((d["dataset"], d["grp"]))
        last = d["last_ts"]
        lag = None if last is None else (now - datetime.fromisoformat(last)).total_seconds()
        d["lag_s"] = None if lag is None else round(lag, 1)
        d["stale"] = bool(d["checked"]) and (lag is None or lag > max_lag_s + d["cadence_s"])
        if d["stale"]:
            stale.append(f"{d['dataset']}/{d['grp']}")
    for d in registry.all_datasets():
        for grp in d.freshness.expected if d.freshness else ():
            if (d.name, grp) not in seen:
                datasets.append({"dataset": d.name, "grp": grp, "last_ts": None, "lag_s": None, "rows_24h": 0,
                                 "cadence_s": 60, "checked": True, "forward_only": d.forward_only,
                                 "stale": True})
                stale.append(f"{d.name}/{grp} (no rows)")
    lease = None
    if lease_row:
        lease = {k: _jsonable(v) for k, v in lease_row.items() if k != "db_now"}
    return {
        "database": redact_dsn(url, url),
        "now": now.isoformat(),
        "max_lag_s": max_lag_s,
        "datasets": datasets,
        # what each dataset is and whether a collector outage costs it forever
        "catalogue": [{"dataset": d.name, "description": d.description, "forward_only": d.forward_only,
                       "backfill": d.backfill is not None, "live": d.live is not None}
                      for d in registry.all_datasets()],
        "gaps": {"days": gap_days, "by_dataset": gaps,
                 "total": sum(g["gaps"] for g in gaps), "missing_minutes": sum(g["missing_minutes"] for g in gaps)},
        "leader": lease,
        "jobs": jobs,
        "storage": storage,
        "spool": spool_report(spool_dir),
        "stale": stale,
        "ok": not stale,
    }


def _gaps_by_dataset(gaps: list[dict]) -> list[dict]:
    """Open gaps summed per dataset: count, missing minutes, the longest."""
    out: dict[str, dict] = {}
    for g in gaps:
        d = out.setdefault(g["dataset"], {"dataset": g["dataset"], "gaps": 0, "missing_minutes": 0,
                                          "longest_minutes": 0})
        d["gaps"] += 1
        d["missing_minutes"] += g["missing_minutes"]
        d["longest_minutes"] = max(d["longest_minutes"], g["missing_minutes"])
    return [out[k] for k in sorted(out)]


def _fmt_lag(s: float | None) -> str:
    if s is None:
        return "-"
    if s < 120:
        return f"{s:.0f}s"
    if s < 7200:
        return f"{s / 60:.1f}m"
    return f"{s / 3600:.1f}h"


def _fmt_bytes(n: Any) -> str:
    n = float(n or 0)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def render(report: dict) -> str:
    out = [f"database  {report['database']}   now {report['now']}   max lag {report['max_lag_s']:.0f}s"]
    lease = report["leader"]
    if lease:
        state = "valid" if lease["valid"] else "EXPIRED/released"
        out.append(f"leader    {lease['holder']}  since {lease['acquired_at']}  renewed {lease['renewed_at']}  "
                   f"expires {lease['expires_at']} ({state})")
    else:
        out.append("leader    none (no `ingest run` has held the lease)")
    out.append("")
    out.append(f"{'dataset':<18} {'group':<34} {'last':<26} {'lag':>7} {'rows 24h':>10}  state")
    for d in report["datasets"]:
        state = "STALE" if d["stale"] else ("ok" if d["checked"] else "sparse")
        if d.get("forward_only") and d["stale"]:
            state += " (forward-only: minutes missed now are lost for good)"
        out.append(f"{d['dataset']:<18} {d['grp']:<34} {str(d['last_ts'] or '-')[:25]:<26} "
                   f"{_fmt_lag(d['lag_s']):>7} {d['rows_24h']:>10}  {state}")
    out.append("")
    out.append("datasets  " + "  ".join(
        f"{c['dataset']}{' (forward-only)' if c['forward_only'] else ''}" for c in report.get("catalogue", ())))
    out.append("          forward-only: collected going forward only, never backfilled; an outage of the "
               "collector costs them for good")
    g = report["gaps"]
    out.append("")
    out.append(f"open gaps (last {g['days']:g} days): {g['total']} gaps, {g['missing_minutes']} missing minutes")
    for row in g["by_dataset"]:
        out.append(f"  {row['dataset']:<18} {row['gaps']} gaps, {row['missing_minutes']} minutes, "
                   f"longest {row['longest_minutes']} minutes")
    out.append("")
    out.append(f"{'job':<16} {'last finished':<26} {'outcome':<8} {'rows':>7} {'reqs':>5} {'ms':>7}  error")
    for j in report["jobs"]:
        out.append(f"{j['job_name']:<16} {str(j['last_finished'] or '-')[:25]:<26} {j['last_outcome'] or '-':<8} "
                   f"{j['last_rows'] if j['last_rows'] is not None else '-':>7} "
                   f"{j['last_requests'] if j['last_requests'] is not None else '-':>5} "
                   f"{j['last_duration_ms'] if j['last_duration_ms'] is not None else '-':>7}  "
                   f"{(j['last_error'] or '')[:80]}")
    out.append("")
    out.extend(render_spool(report.get("spool")))
    out.append("")
    out.append("storage")
    for s in report["storage"]:
        out.append(f"  {s['relation']:<32} {_fmt_bytes(s['bytes']):>10}")
    out.append("")
    out.append("OK" if report["ok"] else "STALE: " + ", ".join(report["stale"]))
    return "\n".join(out)


def render_spool(spool: dict | None) -> list[str]:
    if spool is None:
        return []
    if "error" in spool:
        return [f"spool     {spool['dir']}: cannot read ({spool['error']})"]
    if not spool["files"]:
        head = f"spool     {spool['dir']}: empty"
    else:
        head = (f"spool     {spool['dir']}: {spool['files']} files, {spool['rows']} rows, "
                f"{_fmt_bytes(spool['bytes'])} waiting for the database, oldest minute {spool['oldest_minute']}")
    out = [head]
    for d in spool["by_dataset"]:
        out.append(f"  {d['dataset']:<10} {d['files']:>6} files {d['rows']:>9} rows {_fmt_bytes(d['bytes']):>10}")
    if spool["refused_files"]:
        out.append(f"  REFUSED: {spool['refused_files']} files the database would not load (kept in "
                   f"{spool['dir']}/{spool_mod.REFUSED_DIR}; see the log)")
    dropped = spool.get("dropped")
    if dropped:
        out.append(f"  FULL: {dropped['payloads']} payloads ({dropped['rows']} rows) not kept since "
                   f"{dropped['since_minute']} (limit {_fmt_bytes(dropped.get('max_bytes'))}; --spool-max-mb)")
    return out
