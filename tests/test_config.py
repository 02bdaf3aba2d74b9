"""Settings from the environment; passwords never shown."""

from __future__ import annotations

import pytest

from ingest.config import DEFAULT_API_URL, DEFAULT_HISTORY_URL, Settings, redact_dsn


@pytest.mark.parametrize("dsn, shown", [
    ("postgresql://ingest:s3cr%40t@db:5432/deribit", "postgresql://ingest:***@db:5432/deribit"),
    ("postgres://u:p@h/d?sslmode=require", "postgres://u:***@h/d?sslmode=require"),
    ("postgresql://h/d?user=u&password=hunter2&x=1", "postgresql://h/d?user=u&password=***&x=1"),
    ("host=db user=u password=hunter2 dbname=d", "host=db user=u password=*** dbname=d"),
    ("host=db password='a b c' dbname=d", "host=db password=*** dbname=d"),
    ("postgresql://postgres@127.0.0.1:55432/postgres", "postgresql://postgres@127.0.0.1:55432/postgres"),
])
def test_redact_dsn(dsn, shown):
    assert redact_dsn(dsn) == shown


def test_redaction_inside_a_longer_message():
    msg = 'connection to "postgresql://u:topsecret@h:1/d" failed: refused'
    assert "topsecret" not in redact_dsn(msg)


def test_defaults_and_environment(monkeypatch):
    for var in ("INGEST_DATABASE_URL", "DERIBIT_API_URL", "DERIBIT_HISTORY_URL", "DERIBIT_RATE_SHARE"):
        monkeypatch.delenv(var, raising=False)
    s = Settings.from_env()
    assert (s.api_url, s.history_url) == (DEFAULT_API_URL, DEFAULT_HISTORY_URL)
    monkeypatch.setenv("DERIBIT_API_URL", "http://127.0.0.1:8765/api/v2/")
    monkeypatch.setenv("DERIBIT_RATE_SHARE", "0.25")
    monkeypatch.setenv("INGEST_DATABASE_URL", "postgresql://u:pw@h/d")
    s = Settings.from_env()
    assert s.api_url == "http://127.0.0.1:8765/api/v2"
    assert s.rate_share == 0.25
    assert s.safe_database_url == "postgresql://u:***@h/d"


def test_bad_number_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("DERIBIT_RATE_SHARE", "quarter")
    with pytest.raises(ValueError, match="DERIBIT_RATE_SHARE must be a number"):
        Settings.from_env()
