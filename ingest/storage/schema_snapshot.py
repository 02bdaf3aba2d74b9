"""The schema as data: what a database defines in schema public, comparable across databases.

Head's snapshot is checked in (migrations/schema_snapshot.json, written by `python -m ingest.storage.schema
snapshot` from a database migrated base -> head). Tests prove that base -> head and an upgrade from
the released 0001-0003 both give it; `ingest db status` compares a database at head with it and names
every object whose definition differs (drift).

Nothing here depends on the database's oids, generated ids (job ids, materialisation hypertable
numbers, chunk names), its name, or the name of the role that ran the migrations: object owners appear
as "<owner>". Column order is not compared (a column added by a later ALTER TABLE goes last). Objects of
extensions (TimescaleDB's functions in public) are left out.

Sections:
  definitions (drift): tables (columns, constraints, indexes, triggers, grants), views and continuous
    aggregates (definition, columns, grants), functions (pg_get_functiondef, grants), sequences
    (grants), hypertables (dimensions, compression layout), roles and privileges beyond objects
  settings (reported, never drift): the TimescaleDB jobs and the storage_settings rows they come from,
    which operators change on purpose (docs/sql-layer.md, "Storage control")
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import psycopg

SNAPSHOT_PATH = Path(__file__).resolve().parent.parent.parent / "migrations" / "schema_snapshot.json"

DEFINITION_SECTIONS = ("tables", "views", "continuous_aggregates", "functions", "sequences", "hypertables",
                       "roles", "privileges")
SETTINGS_SECTIONS = ("jobs", "storage_settings")
# how a report names an object of each section
KINDS = {"tables": "table", "views": "view", "continuous_aggregates": "continuous aggregate",
         "functions": "function", "sequences": "sequence", "hypertables": "hypertable", "roles": "role",
         "privileges": "privilege", "jobs": "job", "storage_settings": "storage_settings row"}
# the project's roles (sql/revisions/0002_views_policies/policies/90_roles.sql)
PROJECT_ROLES = ("analyst", "ingest_writer")

_NOT_EXTENSION_MEMBER = """NOT EXISTS (SELECT 1 FROM pg_depend d
                   WHERE d.classid = %s::regclass AND d.objid = {oid} AND d.deptype = 'e')"""


def _lines(text: str | None) -> list[str]:
    return [line.rstrip() for line in (text or "").strip("\n").splitlines()]


# schemas a view's definition may name: kept; any other `name.` before a column is a relation qualifier
_SCHEMAS = {"public", "pg_catalog", "timescaledb_information", "timescaledb_experimental", "information_schema"}
_QUALIFIER = re.compile(r'(?<![\w."])([a-z_][a-z0-9_]*)\.(?=[a-z_"])')


# a literal column of a UNION's later branch, as PostgreSQL prints it once the view was re-parsed (a
# restored dump): with its type as alias, `'futures_ohlcv'::text AS text`; the view's column names are
# compared apart (its `columns`)
_LITERAL_TYPE_ALIAS = re.compile(r"('(?:[^']|'')*'::([a-z_][a-z0-9_]*)) AS \2\b")


def _view_lines(text: str | None) -> list[str]:
    """A view's definition without relation qualifiers (PostgreSQL 15 prints `funding_rates.ts` where 17
    prints `ts`, pg_get_viewdef) and without the type aliases a re-parse gives literal columns (a
    restored backup's `'futures_ohlcv'::text AS text`): the same view would otherwise read as drift from
    one version to the other, or after `ingest db restore`."""
    def strip(m: re.Match) -> str:
        name = m.group(1)
        return m.group(0) if name in _SCHEMAS or name.startswith("_timescaledb") else ""
    return [_LITERAL_TYPE_ALIAS.sub(r"\1", _QUALIFIER.sub(strip, line)) for line in _lines(text)]


def _grants(conn: psycopg.Connection, acl_sql: str, params: tuple) -> dict[str, str]:
    """{grantee: "PRIV,PRIV"} of an ACL expression (NULL = the type's default), the owner left out."""
    rows = conn.execute(f"""
        SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END,
               string_agg(a.privilege_type || CASE WHEN a.is_grantable THEN '*' ELSE '' END, ','
                          ORDER BY a.privilege_type)
        FROM ({acl_sql}) src(acl, owner), aclexplode(src.acl) a
        WHERE a.grantee <> src.owner
        GROUP BY 1""", params).fetchall()
    return {grantee: privileges for grantee, privileges in rows}


def _relation_grants(conn: psycopg.Connection, oid: int) -> dict[str, str]:
    return _grants(conn, "SELECT coalesce(relacl, acldefault((CASE WHEN relkind = 'S' THEN 's' ELSE 'r' END)"
                         "::\"char\", relowner)), relowner FROM pg_class WHERE oid = %s", (oid,))


def _columns(conn: psycopg.Connection, oid: int) -> dict[str, dict[str, Any]]:
    columns = {}
    for name, typ, not_null, default, identity, generated in conn.execute("""
            SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
                   pg_get_expr(d.adbin, d.adrelid), a.attidentity, a.attgenerated
            FROM pg_attribute a
            LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
            WHERE a.attrelid = %s AND a.attnum > 0 AND NOT a.attisdropped""", (oid,)):
        column: dict[str, Any] = {"type": typ, "not_null": not_null}
        if default is not None:
            column["default"] = default
        if identity:
            column["identity"] = {"a": "always", "d": "by default"}[identity]
        if generated:
            column["generated"] = "stored"
        columns[name] = column
    return columns


def _relations(conn: psycopg.Connection, kinds: str) -> list[tuple[int, str]]:
    return conn.execute(f"""
        SELECT c.oid, c.relname FROM pg_class c
        WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = ANY (%s)
          AND {_NOT_EXTENSION_MEMBER.format(oid='c.oid')}
        ORDER BY c.relname""", (list(kinds), "pg_class")).fetchall()


def _timescaledb(conn: psycopg.Connection) -> bool:
    return conn.execute("SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')").fetchone()[0]


def _tables(conn: psycopg.Connection) -> dict:
    tables = {}
    for oid, name in _relations(conn, "rp"):
        tables[name] = {
            "columns": _columns(conn, oid),
            "constraints": dict(conn.execute(
                "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s", (oid,))),
            "indexes": dict(conn.execute(
                "SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i "
                "JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = %s", (oid,))),
            # TimescaleDB's own triggers (insert blocker, cagg invalidation) are its business
            "triggers": dict(conn.execute("""
                SELECT t.tgname, pg_get_triggerdef(t.oid) FROM pg_trigger t
                JOIN pg_proc p ON p.oid = t.tgfoid
                WHERE t.tgrelid = %s AND NOT t.tgisinternal
                  AND p.pronamespace::regnamespace::text NOT LIKE '\\_timescaledb%%'""", (oid,))),
            "grants": _relation_grants(conn, oid),
        }
    return tables


def _caggs(conn: psycopg.Connection) -> dict:
    if not _timescaledb(conn):
        return {}
    caggs = {}
    for name, definition, materialized_only, compression in conn.execute("""
            SELECT view_name::text, view_definition, materialized_only, compression_enabled
            FROM timescaledb_information.continuous_aggregates WHERE view_schema = 'public'""").fetchall():
        oid = conn.execute("SELECT %s::regclass::oid", (f"public.{name}",)).fetchone()[0]
        caggs[name] = {"definition": _view_lines(definition), "materialized_only": materialized_only,
                       "compression_enabled": compression, "columns": _columns(conn, oid),
                       "grants": _relation_grants(conn, oid)}
    return caggs


def _views(conn: psycopg.Connection, caggs: dict) -> dict:
    views = {}
    for oid, name in _relations(conn, "vm"):
        if name in caggs:
            continue
        views[name] = {"definition": _view_lines(conn.execute("SELECT pg_get_viewdef(%s, true)",
                                                              (oid,)).fetchone()[0]),
                       "columns": _columns(conn, oid), "grants": _relation_grants(conn, oid)}
    return views


def _functions(conn: psycopg.Connection) -> dict:
    functions = {}
    for oid, signature in conn.execute(f"""
            SELECT p.oid, p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')'
            FROM pg_proc p
            WHERE p.pronamespace = 'public'::regnamespace AND p.prokind IN ('f', 'p')
              AND {_NOT_EXTENSION_MEMBER.format(oid='p.oid')}""", ("pg_proc",)).fetchall():
        functions[signature] = {
            "definition": _lines(conn.execute("SELECT pg_get_functiondef(%s)", (oid,)).fetchone()[0]),
            "grants": _grants(conn, "SELECT coalesce(proacl, acldefault('f'::\"char\", proowner)), proowner "
                                    "FROM pg_proc WHERE oid = %s", (oid,)),
        }
    return functions


def _sequences(conn: psycopg.Connection) -> dict:
    return {name: {"grants": _relation_grants(conn, oid)} for oid, name in _relations(conn, "S")}


def _hypertables(conn: psycopg.Connection) -> dict:
    if not _timescaledb(conn):
        return {}
    hypertables: dict[str, dict[str, Any]] = {}
    for name, compression in conn.execute("""
            SELECT hypertable_name::text, compression_enabled FROM timescaledb_information.hypertables
            WHERE hypertable_schema = 'public'""").fetchall():
        hypertables[name] = {"compression_enabled": compression, "dimensions": {}}
    for name, column, interval, integer_interval, partitions in conn.execute("""
            SELECT hypertable_name::text, column_name::text, time_interval::text, integer_interval::text,
                   num_partitions
            FROM timescaledb_information.dimensions WHERE hypertable_schema = 'public'""").fetchall():
        if name in hypertables:
            hypertables[name]["dimensions"][column] = {
                k: v for k, v in (("interval", interval or integer_interval), ("partitions", partitions)) if v}
    for name, segmentby, orderby, rollup in conn.execute("""
            SELECT c.relname::text, s.segmentby, s.orderby, s.compress_interval_length::text
            FROM timescaledb_information.hypertable_compression_settings s
            JOIN pg_class c ON c.oid = s.hypertable
            WHERE c.relnamespace = 'public'::regnamespace""").fetchall():
        if name in hypertables:
            hypertables[name]["compression"] = {"segmentby": segmentby, "orderby": orderby,
                                                "chunk_time_interval": rollup}
    return hypertables


def _roles(conn: psycopg.Connection) -> dict:
    return {name: {"login": login} for name, login in conn.execute(
        "SELECT rolname::text, rolcanlogin FROM pg_roles WHERE rolname = ANY (%s)", (list(PROJECT_ROLES),))}


def _privileges(conn: psycopg.Connection) -> dict:
    """What the project's roles (and PUBLIC) may do beyond single objects: the database, schema public,
    default privileges, and the routines revision 0004 takes away from analyst."""
    privileges: dict[str, Any] = {}
    roles = [r for r in ("public", *PROJECT_ROLES)
             if r == "public" or conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (r,)).fetchone()]
    for role in roles:
        db, schema = conn.execute("""
            SELECT array_to_string(ARRAY(SELECT p FROM unnest(ARRAY['CREATE', 'TEMPORARY', 'CONNECT']) p
                                         WHERE has_database_privilege(%(r)s, current_database(), p)), ','),
                   array_to_string(ARRAY(SELECT p FROM unnest(ARRAY['CREATE', 'USAGE']) p
                                         WHERE has_schema_privilege(%(r)s, 'public', p)), ',')""",
                                  {"r": role}).fetchone()
        privileges[f"database:{role}"] = db
        privileges[f"schema public:{role}"] = schema
    for objtype, grants in conn.execute("""
            SELECT d.defaclobjtype::text, coalesce(json_object_agg(a.grantee_name, a.privileges), '{}')
            FROM pg_default_acl d
            CROSS JOIN LATERAL (
                SELECT CASE WHEN e.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(e.grantee) END AS grantee_name,
                       string_agg(e.privilege_type, ',' ORDER BY e.privilege_type) AS privileges
                FROM aclexplode(d.defaclacl) e WHERE e.grantee <> d.defaclrole GROUP BY 1) a
            WHERE d.defaclnamespace = 'public'::regnamespace
            GROUP BY 1""").fetchall():
        privileges[f"default privileges on {dict(r='tables', S='sequences', f='functions', T='types', n='schemas').get(objtype, objtype)}"] = grants  # noqa: E501
    if "analyst" in roles:
        privileges["analyst executes (advisory locks, large objects)"] = [r for (r,) in conn.execute("""
            SELECT p.oid::regprocedure::text FROM pg_proc p
            WHERE p.pronamespace = 'pg_catalog'::regnamespace
              AND (p.proname ~ '^pg_(try_)?advisory_' OR p.proname IN ('lo_creat', 'lo_create', 'lo_from_bytea'))
              AND has_function_privilege('analyst', p.oid, 'EXECUTE')
            ORDER BY 1""")]
    return privileges


def _jobs(conn: psycopg.Connection) -> dict:
    """The jobs of the project's relations, keyed by what they do (job ids are generated)."""
    if not _timescaledb(conn):
        return {}
    jobs = {}
    for proc, relation, every, config, scheduled in conn.execute("""
            SELECT proc_name::text, coalesce(hypertable_name::text, ''), schedule_interval::text, config, scheduled
            FROM timescaledb_information.jobs
            WHERE job_id >= 1000 AND coalesce(hypertable_schema::text, 'public') = 'public'""").fetchall():
        # ids of internal hypertables are renumbered by every recreation
        config = {k: v for k, v in (config or {}).items() if not k.endswith("hypertable_id")}
        jobs[f"{proc} {relation}".strip()] = {"schedule_interval": every, "config": config, "scheduled": scheduled}
    return jobs


def _storage_settings(conn: psycopg.Connection) -> dict:
    if conn.execute("SELECT to_regclass('public.storage_settings')").fetchone()[0] is None:
        return {}
    rows = conn.execute("SELECT to_jsonb(s) FROM storage_settings s").fetchall()
    return {row["relation"]: {k: v for k, v in row.items() if k != "relation"} for (row,) in rows}


def take(conn: psycopg.Connection) -> dict:
    """The snapshot of the database `conn` is connected to (read-only; any transaction state)."""
    caggs = _caggs(conn)
    return {
        "tables": _tables(conn),
        "views": _views(conn, caggs),
        "continuous_aggregates": caggs,
        "functions": _functions(conn),
        "sequences": _sequences(conn),
        "hypertables": _hypertables(conn),
        "roles": _roles(conn),
        "privileges": _privileges(conn),
        "jobs": _jobs(conn),
        "storage_settings": _storage_settings(conn),
    }


def dumps(snapshot: dict) -> str:
    return json.dumps(snapshot, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def load(path: Path = SNAPSHOT_PATH) -> dict:
    return json.loads(path.read_text())


def normalise(snapshot: dict) -> dict:
    """A snapshot as it reads back from JSON (tuples become lists, keys strings)."""
    return json.loads(dumps(snapshot))


def differences(head: dict, actual: dict, sections: tuple[str, ...] = DEFINITION_SECTIONS) -> list[str]:
    """One line per object of `sections` that differs between head's snapshot and `actual`, naming the
    object and what differs; empty when they match."""
    head, actual = normalise(head), normalise(actual)
    lines = []
    for section in sections:
        kind = KINDS.get(section, section)
        expected, found = head.get(section, {}), actual.get(section, {})
        for name in sorted(set(expected) | set(found)):
            if name not in found:
                lines.append(f"{kind} {name}: missing (head defines it)")
            elif name not in expected:
                lines.append(f"{kind} {name}: not defined by head")
            elif expected[name] != found[name]:
                lines.append(f"{kind} {name}: {'; '.join(_what_differs(expected[name], found[name]))}")
    return lines


def _what_differs(expected: Any, found: Any, path: str = "") -> list[str]:
    if isinstance(expected, dict) and isinstance(found, dict):
        out = []
        for key in sorted(set(expected) | set(found)):
            where = f"{path} {key}".strip()
            if key not in found:
                out.append(f"{where} missing")
            elif key not in expected:
                out.append(f"{where} not in head")
            elif expected[key] != found[key]:
                out.extend(_what_differs(expected[key], found[key], where))
        return out
    shown = lambda v: json.dumps(v) if len(json.dumps(v)) <= 60 else None  # noqa: E731
    if shown(expected) is not None and shown(found) is not None:
        return [f"{path or 'value'} is {shown(found)}, head has {shown(expected)}"]
    return [f"{path or 'definition'} differs from head"]
