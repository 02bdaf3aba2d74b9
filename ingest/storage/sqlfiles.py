"""Run the project's .sql files (under sql/) against a psycopg connection.

SQL lives in files, not in Python strings. A file whose first lines contain the marker
``-- ingest:no-transaction`` holds statements PostgreSQL refuses inside a transaction block
(continuous aggregates ``WITH DATA``, ``CALL refresh_continuous_aggregate``): those files are run
statement by statement in autocommit mode. Every other file runs as one script inside the
caller's transaction.
"""

from __future__ import annotations

from pathlib import Path

import psycopg

SQL_DIR = Path(__file__).resolve().parent.parent.parent / "sql"
NO_TRANSACTION_MARKER = "-- ingest:no-transaction"


def sql_path(relpath: str) -> Path:
    path = SQL_DIR / relpath
    if not path.is_file():
        raise FileNotFoundError(f"SQL file not found: {path}")
    return path


def needs_autocommit(text: str) -> bool:
    head = text.lstrip().splitlines()[:5]
    return any(line.strip().lower() == NO_TRANSACTION_MARKER for line in head)


def split_statements(text: str) -> list[str]:
    """Split a script on top-level semicolons, respecting quotes, dollar quotes and comments."""
    statements: list[str] = []
    buf: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "-" and text.startswith("--", i):
            end = text.find("\n", i)
            end = n if end == -1 else end
            buf.append(text[i:end])
            i = end
            continue
        if c == "/" and text.startswith("/*", i):
            end = text.find("*/", i + 2)
            end = n if end == -1 else end + 2
            buf.append(text[i:end])
            i = end
            continue
        if c in ("'", '"'):
            j = i + 1
            while j < n:
                if text[j] == c:
                    if j + 1 < n and text[j + 1] == c:  # doubled quote escapes itself
                        j += 2
                        continue
                    break
                j += 1
            buf.append(text[i : j + 1])
            i = j + 1
            continue
        if c == "$":
            end_tag = text.find("$", i + 1)
            tag = text[i : end_tag + 1] if end_tag != -1 else ""
            if tag and (tag == "$$" or tag[1:-1].replace("_", "a").isalnum()):
                close = text.find(tag, end_tag + 1)
                close = n if close == -1 else close + len(tag)
                buf.append(text[i:close])
                i = close
                continue
        if c == ";":
            statements.append("".join(buf).strip())
            buf = []
            i += 1
            continue
        buf.append(c)
        i += 1
    statements.append("".join(buf).strip())
    return [s for s in statements if _has_code(s)]


def _has_code(statement: str) -> bool:
    for line in statement.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("--"):
            return True
    return False


def run_file(conn: psycopg.Connection, path: Path) -> None:
    """Run one file. Autocommit files are run statement by statement; the caller's connection must
    then be in autocommit mode (Alembic: inside ``op.get_context().autocommit_block()``)."""
    text = path.read_text()
    if needs_autocommit(text):
        for statement in split_statements(text):
            conn.execute(statement)
    else:
        # no parameters: psycopg sends it with the simple query protocol, several statements at once
        conn.execute(text)


_QUERY_CACHE: dict[str, str] = {}


def query(name: str) -> str:
    """The text of sql/queries/<name>.sql (parameters in psycopg's %s / %(name)s style)."""
    text = _QUERY_CACHE.get(name)
    if text is None:
        text = _QUERY_CACHE[name] = sql_path(f"queries/{name}.sql").read_text()
    return text
