"""The Grafana dashboard (deploy/grafana/dashboards/deribit.json) and its provisioning: every panel's SQL,
with Grafana's macros expanded for a fixed range, runs as `analyst` on the sample of
tests/test_report_sample.py and returns rows; the provisioning YAML and the compose service agree with
the dashboard. Grafana itself cannot run here (no Docker): its macro expansion is re-done below, as its
PostgreSQL data source does it (grafana/pkg/tsdb/grafana-postgresql-datasource/macros.go and the SQL
data sources' global $__interval substitution), for the macros and the variable the dashboard uses."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pytest
import yaml

from .test_report_sample import wiped_and_loaded

ROOT = Path(__file__).resolve().parent.parent
GRAFANA = ROOT / "deploy" / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "deribit.json"
DATASOURCES = GRAFANA / "provisioning" / "datasources" / "timescaledb.yaml"
PROVIDERS = GRAFANA / "provisioning" / "dashboards" / "deribit.yaml"
COMPOSE = ROOT / "docker-compose.yml"
UTC = timezone.utc

# --- Grafana's expansion, re-done ------------------------------------------------------------------

MACRO = re.compile(r"\$([_a-zA-Z0-9]+)\(([^\)]*)\)")  # macros.go: sExpr
UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
# the steps Grafana rounds a computed interval to (a subset of its table, enough for these ranges)
NICE_SECONDS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1200, 1800, 3600, 7200, 10800, 21600, 43200, 86400)


def parse_interval(text: str) -> timedelta:
    m = re.fullmatch(r"(\d+)(ms|s|m|h|d|w|y)", text.strip().strip("'\""))
    if not m:
        raise ValueError(f"not an interval: {text!r}")
    return timedelta(seconds=int(m.group(1)) * UNITS[m.group(2)])


def format_interval(iv: timedelta) -> str:
    """gtime.FormatInterval: the largest whole unit (1d, 2h, 5m, 30s, 500ms)."""
    ms = round(iv.total_seconds() * 1000)
    for unit, size in (("y", 31536000000), ("w", 604800000), ("d", 86400000), ("h", 3600000), ("m", 60000),
                       ("s", 1000)):
        if ms >= size and ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def rfc3339(t: datetime) -> str:
    """Go's time.RFC3339Nano in UTC: no trailing zeros in the fraction, 'Z'."""
    t = t.astimezone(UTC)
    text = t.strftime("%Y-%m-%dT%H:%M:%S")
    if t.microsecond:
        text += ("." + f"{t.microsecond:06d}").rstrip("0")
    return text + "Z"


def panel_interval(start: datetime, end: datetime, min_interval: str, max_points: int = 1000) -> timedelta:
    """$__interval: the range over the panel's points, not below the minimum, rounded up to a step."""
    raw = max((end - start).total_seconds() / max_points, parse_interval(min_interval).total_seconds())
    return timedelta(seconds=next((s for s in NICE_SECONDS if s >= raw), NICE_SECONDS[-1]))


def evaluate_macro(name: str, args: list[str], start: datetime, end: datetime, timescaledb: bool) -> str:
    if name == "__time":
        return f'{args[0]} AS "time"'
    if name == "__timeFilter":
        return f"{args[0]} BETWEEN '{rfc3339(start)}' AND '{rfc3339(end)}'"
    if name == "__timeFrom":
        return f"'{rfc3339(start)}'"
    if name == "__timeTo":
        return f"'{rfc3339(end)}'"
    if name in ("__timeGroup", "__timeGroupAlias"):
        seconds = parse_interval(args[1]).total_seconds()
        if timescaledb:
            group = f"time_bucket('{seconds:.3f}s',{args[0]})"
        else:
            group = f"floor(extract(epoch from {args[0]})/{seconds:g})*{seconds:g}"
        return group + (' AS "time"' if name == "__timeGroupAlias" else "")
    raise ValueError(f"macro ${name} is not expanded by this test: add it")


def expand(sql: str, start: datetime, end: datetime, interval: timedelta, variables: dict[str, list[str]],
           timescaledb: bool = True) -> str:
    """Template variables (multi-value: quoted and comma-separated, as SQL data sources format them),
    then $__interval_ms / $__interval, then the macros."""
    for name, values in variables.items():
        quoted = ",".join("'" + v.replace("'", "''") + "'" for v in values)
        sql = sql.replace("${" + name + "}", quoted)
        sql = re.sub(r"\$" + re.escape(name) + r"\b", quoted, sql)
    sql = sql.replace("$__interval_ms", str(int(interval.total_seconds() * 1000)))
    sql = sql.replace("$__interval", format_interval(interval))

    def one(m: re.Match) -> str:
        name, args = m.group(1), [a.strip() for a in m.group(2).split(",")]
        if name == "__timeGroup":  # macros.go: followed by ',' it is the old alias form
            after = sql[m.end():m.end() + 1]
            name = "__timeGroupAlias" if after == "," else name
        return evaluate_macro(name, args, start, end, timescaledb)

    out = MACRO.sub(one, sql)
    assert "$" not in out, f"unexpanded: {out}"
    return out


# --- the expander against Grafana's documented expansions ------------------------------------------

FROM, TO = datetime(2017, 4, 21, 5, 1, 17, tzinfo=UTC), datetime(2017, 4, 21, 5, 6, 17, tzinfo=UTC)


def test_the_expander_writes_what_grafanas_postgres_macros_write():
    def x(sql, **kw):
        return expand(sql, FROM, TO, timedelta(minutes=5), {"currency": ["BTC", "ETH"]}, **kw)

    assert x("$__timeFilter(ts)") == "ts BETWEEN '2017-04-21T05:01:17Z' AND '2017-04-21T05:06:17Z'"
    assert x("$__timeFrom() $__timeTo()") == "'2017-04-21T05:01:17Z' '2017-04-21T05:06:17Z'"
    assert x("$__timeGroupAlias(ts, $__interval)") == "time_bucket('300.000s',ts) AS \"time\""
    assert x("$__timeGroup(ts,'5m')") == "time_bucket('300.000s',ts)"
    assert x("$__timeGroup(ts,'5m'), 1") == "time_bucket('300.000s',ts) AS \"time\", 1"
    assert x("$__timeGroup(ts,'5m')", timescaledb=False) == "floor(extract(epoch from ts)/300)*300"
    assert x("$__time(ts)") == 'ts AS "time"'
    assert x("$__interval_ms $__interval") == "300000 5m"
    assert x("c IN ($currency)") == "c IN ('BTC','ETH')"
    assert rfc3339(datetime(2024, 1, 2, 3, 4, 5, 120000, tzinfo=UTC)) == "2024-01-02T03:04:05.12Z"
    assert format_interval(timedelta(hours=1)) == "1h" and format_interval(timedelta(seconds=90)) == "90s"
    assert panel_interval(FROM, FROM + timedelta(days=2), "1m") == timedelta(minutes=5)
    assert panel_interval(FROM, FROM + timedelta(hours=2), "1m") == timedelta(minutes=1)
    with pytest.raises(ValueError):
        x("$__unixEpochFilter(ts)")


# --- the dashboard ---------------------------------------------------------------------------------

def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def panels() -> list[dict]:
    out = []
    for p in dashboard()["panels"]:
        out.extend(p.get("panels", [])) if p["type"] == "row" else out.append(p)
    return out


def variables() -> dict[str, list[str]]:
    """Every template variable at 'All': its options' values."""
    out = {}
    for v in dashboard()["templating"]["list"]:
        out[v["name"]] = [o["value"] for o in v["options"] if o["value"] != "$__all"]
    return out


def datasource_yaml() -> dict:
    return yaml.safe_load(DATASOURCES.read_text())


def test_the_dashboard_has_the_panels_the_issue_asks_for():
    titles = [p["title"] for p in panels()]
    for wanted in ("Perpetual prices", "Futures prices", "Basis term structure", "Funding",
                   "ATM implied volatility term structure", "Data freshness", "Open gaps"):
        assert any(t.startswith(wanted) for t in titles), wanted
    d = dashboard()
    assert d["uid"] and d["title"] and d["timezone"] == "utc"
    ids = [p["id"] for p in panels()]
    assert len(ids) == len(set(ids))
    # no two panels overlap on Grafana's 24-column grid
    cells = set()
    for p in panels():
        g = p["gridPos"]
        assert 0 <= g["x"] and g["x"] + g["w"] <= 24
        mine = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
        assert not cells & mine, p["title"]
        cells |= mine


def test_every_panel_reads_the_provisioned_data_source_with_raw_sql():
    uid = datasource_yaml()["datasources"][0]["uid"]
    for p in panels():
        assert p["datasource"]["uid"] == uid, p["title"]
        assert p["targets"], p["title"]
        for t in p["targets"]:
            assert t.get("datasource", p["datasource"])["uid"] == uid
            assert t["rawQuery"] is True and t["editorMode"] == "code" and t["rawSql"].strip()
            assert t["format"] == ("time_series" if p["type"] == "timeseries" else "table"), p["title"]


@pytest.fixture(scope="module")
def sample_db(migrated_url):
    with psycopg.connect(migrated_url, autocommit=True) as conn:
        yield conn, wiped_and_loaded(conn)


def queries() -> list[tuple[str, str, str, str]]:
    """(panel title, panel type, min interval, raw SQL) of every target."""
    default = datasource_yaml()["datasources"][0]["jsonData"]["timeInterval"]
    return [(p["title"], p["type"], p.get("interval") or default, t["rawSql"]) for p in panels() for t in p["targets"]]


@pytest.mark.parametrize("index", range(len(queries())), ids=[q[0] for q in queries()])
def test_panel_sql_runs_as_analyst_and_returns_the_samples_rows(sample_db, index):
    """Over the last 3 days, which hold the whole sample (from noon two UTC days ago)."""
    conn, sample = sample_db
    title, kind, min_interval, raw = queries()[index]
    end = sample.now + timedelta(minutes=1)
    start = end - timedelta(days=3)
    interval = panel_interval(start, end, min_interval)
    sql = expand(raw, start, end, interval, variables())
    with conn.transaction():
        conn.execute("SET LOCAL ROLE analyst")
        cur = conn.execute(sql)
        names = [d.name for d in cur.description]
        rows = cur.fetchall()
    assert rows, f"{title}: no rows for the sample"
    if kind == "timeseries":
        assert names[0] == "time" and "metric" in names, title
        times = [r[0] for r in rows]
        assert times == sorted(times), f"{title}: Grafana needs time series sorted by time"
        assert all(start - interval <= t <= end for t in times), title
        values = [v for r in rows for v in r[names.index("metric") + 1:] if v is not None]
        assert values and all(isinstance(v, (int, float)) or hasattr(v, "is_finite") for v in values), title
        series = {r[names.index("metric")] for r in rows}
        assert series, title
    if title.startswith("Perpetual prices"):
        assert {r[1] for r in rows} == {"BTC-PERPETUAL", "ETH-PERPETUAL"}
    if title.startswith("Futures prices"):
        assert {r[1] for r in rows} == {f for c in ("BTC", "ETH") for f in sample.futures[c]}
    if title.startswith("Open gaps"):
        assert any(r[1] == "BTC-PERPETUAL" and r[2] == sample.hole_start and r[4] == 120 for r in rows)
    if title.startswith("Funding"):
        assert {r[1] for r in rows} == {"BTC-PERPETUAL", "ETH-PERPETUAL"}


def test_panel_sql_runs_on_an_empty_database(db):
    end = datetime(2024, 6, 2, tzinfo=UTC)
    for title, _, min_interval, raw in queries():
        sql = expand(raw, end - timedelta(days=1), end, panel_interval(end - timedelta(days=1), end, min_interval),
                     variables())
        with db.transaction():
            db.execute("SET LOCAL ROLE analyst")
            assert db.execute(sql).fetchall() == [], title


# --- provisioning and the compose service ----------------------------------------------------------

def test_the_data_source_is_the_read_only_role_with_its_password_from_the_environment():
    doc = datasource_yaml()
    assert doc["apiVersion"] == 1 and len(doc["datasources"]) == 1
    ds = doc["datasources"][0]
    assert ds["type"] in ("postgres", "grafana-postgresql-datasource")
    assert ds["user"] == "analyst"
    assert ds["secureJsonData"]["password"] == "${INGEST_ANALYST_PASSWORD}"
    assert ds["jsonData"]["timescaledb"] is True and ds["jsonData"]["database"]
    assert "password" not in ds and "password" not in ds["jsonData"]


def test_the_compose_service_provisions_grafana_from_these_files():
    compose = yaml.safe_load(COMPOSE.read_text())
    grafana = compose["services"]["grafana"]
    image, _, tag = grafana["image"].partition(":")
    assert image == "grafana/grafana" and re.fullmatch(r"\d+\.\d+\.\d+", tag), grafana["image"]
    mounts = {}
    for volume in grafana["volumes"]:
        source, target = volume.split(":")[:2]
        mounts[target] = source
    provisioning = mounts["/etc/grafana/provisioning"]
    assert (ROOT / provisioning).resolve() == (GRAFANA / "provisioning").resolve()
    providers = yaml.safe_load(PROVIDERS.read_text())["providers"]
    assert len(providers) == 1 and providers[0]["type"] == "file"
    dashboards_dir = mounts[providers[0]["options"]["path"]]
    assert (ROOT / dashboards_dir / DASHBOARD.name).resolve() == DASHBOARD.resolve()
    # every ${VAR} of the data source is set by the service's environment
    env = grafana["environment"]
    for var in re.findall(r"\$\{(\w+)\}", json.dumps(datasource_yaml())):
        assert var in env, var
    assert env["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"].startswith(providers[0]["options"]["path"])
    # the analyst password Grafana uses is the one the migrations set
    migrate_env = compose["services"]["migrate"]["environment"]
    assert migrate_env["INGEST_ANALYST_PASSWORD"] == env["INGEST_ANALYST_PASSWORD"]
    assert env["GRAFANA_DB_HOST"] in compose["services"]
