"""DSNs of every shape: the password never shows, libpq reads what we display, errors are clean.

Every expected string below is written by hand from libpq's DSN rules, not from the code's output.
"""

from __future__ import annotations

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from ingest.config import DsnError, Settings, error_line, normalize_dsn, redact_dsn
from ingest.storage.dsn import dsn_params
from ingest.storage.schema import sqlalchemy_url

# (DSN, what is shown) for each shape a user writes
SHAPES = [
    # URL, plain and %-encoded
    ("postgresql://ingest:hunter2@db:5432/deribit", "postgresql://ingest:***@db:5432/deribit"),
    ("postgresql://ingest:s3cr%40t@db:5432/deribit", "postgresql://ingest:***@db:5432/deribit"),
    ("postgresql://ingest:%70%61%73%73@db/deribit", "postgresql://ingest:***@db/deribit"),
    ("postgres://u:p@h/d?sslmode=require", "postgres://u:***@h/d?sslmode=require"),
    # a space, a raw '@', both, a ':' and a '/' in the password
    ("postgresql://ingest:pa ss@db:5432/deribit", "postgresql://ingest:***@db:5432/deribit"),
    ("postgresql://u:p@ss@host/db", "postgresql://u:***@host/db"),
    ("postgresql://u:a b@c d@host:5432/db", "postgresql://u:***@host:5432/db"),
    ("postgresql://u:x:y/z@host/db", "postgresql://u:***@host/db"),
    ("postgresql://u:p@ss@host/db?application_name=me@box", "postgresql://u:***@host/db?application_name=me@box"),
    # IPv6 hosts, host lists
    ("postgresql://u:pw@[::1]:5432/db", "postgresql://u:***@[::1]:5432/db"),
    ("postgresql://u:p@w@[2001:db8::7]/db", "postgresql://u:***@[2001:db8::7]/db"),
    ("postgresql://u:pw@h1:5432,h2:5433/db", "postgresql://u:***@h1:5432,h2:5433/db"),
    # URI query password=
    ("postgresql://h/d?user=u&password=hunter2&sslmode=require",
     "postgresql://h/d?user=u&password=***&sslmode=require"),
    ("postgresql://h/d?password=se cret&user=u", "postgresql://h/d?password=***&user=u"),
    ("postgresql://h/d?password=a&b@c", "postgresql://h/d?password=***"),
    ("postgresql://h/d?sslpassword=k3y", "postgresql://h/d?sslpassword=***"),
    # key=value: unquoted, quoted with blanks, escaped quote, blanks around '=', unquoted with a blank
    ("host=db user=u password=hunter2 dbname=d", "host=db user=u password=*** dbname=d"),
    ("host=db password='a b c' dbname=d", "host=db password=*** dbname=d"),
    ("host=db password='it\\'s here' dbname=d", "host=db password=*** dbname=d"),
    ("host=db password = hunter2 dbname=d", "host=db password = *** dbname=d"),
    ("host=db password=pa ss dbname=d", "host=db password=*** dbname=d"),
    ("host=db dbname=d password='unterminated", "host=db dbname=d password=***"),
    ("host=::1 port=5432 user=u password=pw dbname=d", "host=::1 port=5432 user=u password=*** dbname=d"),
    # malformed URLs
    ("postgresql://u:pw@[::1:5432/db", "postgresql://u:***@[::1:5432/db"),
    ("postgresql://u:secret/db", "postgresql://u:***/db"),
    ("postgresql:/u:pw@h/db", "postgresql:/u:***@h/db"),
    ("postgresql+psycopg://u:p w@h/d", "postgresql+psycopg://u:***@h/d"),
    # nothing to hide
    ("postgresql://postgres@127.0.0.1:55432/postgres", "postgresql://postgres@127.0.0.1:55432/postgres"),
    ("postgresql:///d?host=/tmp", "postgresql:///d?host=/tmp"),
    ("host=db user=u dbname=d", "host=db user=u dbname=d"),
]


@pytest.mark.parametrize("dsn, shown", SHAPES)
def test_every_shape_is_redacted(dsn, shown):
    assert redact_dsn(dsn) == shown
    assert redact_dsn(shown) == shown  # redacting twice changes nothing


@pytest.mark.parametrize("text, shown", [
    ('connection to "postgresql://u:topsecret@h:1/d" failed: refused',
     'connection to "postgresql://u:***@h:1/d" failed: refused'),
    ("cannot reach postgresql://u:pa ss@h/d: timeout", "cannot reach postgresql://u:***@h/d: timeout"),
    ("cannot reach postgresql://u:p@ss w@rd@h/d now", "cannot reach postgresql://u:***@h/d now"),
    ("Could not parse SQLAlchemy URL from string 'postgresql+psycopg://u:pa ss@[::1/db'",
     "Could not parse SQLAlchemy URL from string 'postgresql+psycopg://u:***@[::1/db'"),
    # an '@' later in the message is not taken for the end of the password
    ('database postgresql://postgres@127.0.0.1:55432/postgres: role "a@b" does not exist',
     'database postgresql://postgres@127.0.0.1:55432/postgres: role "a@b" does not exist'),
    ('database postgresql://u:***@h/d: role "a@b" does not exist',
     'database postgresql://u:***@h/d: role "a@b" does not exist'),
    # two DSNs on one line, and on two lines
    ("from postgresql://a:x1@h1/d to postgresql://b:y2@h2/d", "from postgresql://a:***@h1/d to postgresql://b:***@h2/d"),
    ("postgresql://a:x1@h1/d\nhost=h password='y 2'\n", "postgresql://a:***@h1/d\nhost=h password=***\n"),
    # a parameter dict, JSON, an environment variable
    ("{'user': 'u', 'password': 'pa ss', 'host': 'h'}", "{'user': 'u', 'password': '***', 'host': 'h'}"),
    ('{"password": "a\\"b", "port": 5432}', '{"password": "***", "port": 5432}'),
    ("PGPASSWORD=hunter2 psql -h db", "PGPASSWORD=***"),
    # no DSN at all
    ("(Background on this error at: https://sqlalche.me/e/20/e3q8)",
     "(Background on this error at: https://sqlalche.me/e/20/e3q8)"),
    ("password authentication failed for user \"u\"", "password authentication failed for user \"u\""),
])
def test_dsns_inside_messages(text, shown):
    assert redact_dsn(text) == shown


def test_a_known_password_is_hidden_where_libpq_echoes_it_alone():
    dsn = "postgresql://u:pa ss@h/d"
    # what libpq says about this DSN when given it unnormalised
    echoed = 'unexpected spaces found in "pa ss", use percent-encoded spaces (%20) instead'
    assert redact_dsn(echoed, dsn) == 'unexpected spaces found in "***", use percent-encoded spaces (%20) instead'
    assert redact_dsn('invalid percent-encoded token: "pa%20ss"', dsn) == 'invalid percent-encoded token: "***"'
    assert redact_dsn("password 'it's here'", "host=h password='it\\'s here'") == "password '***'"
    # a user name equal to the password would show it: hidden too
    assert redact_dsn("postgresql://test:test@h:1/d", "postgresql://test:test@h:1/d") == "postgresql://***:***@h:1/d"


@pytest.mark.parametrize("dsn, libpq_reads", [
    ("postgresql://u:pa ss@db:5432/d", {"user": "u", "password": "pa ss", "host": "db", "port": "5432", "dbname": "d"}),
    ("postgresql://u:p@ss@db/d", {"user": "u", "password": "p@ss", "host": "db", "dbname": "d"}),
    ("postgresql://u:a b@c d@db/d", {"user": "u", "password": "a b@c d", "host": "db", "dbname": "d"}),
    ("postgresql://u:x:y/z@db/d", {"user": "u", "password": "x:y/z", "host": "db", "dbname": "d"}),
    ("postgresql://u:s3cr%40t@db/d", {"user": "u", "password": "s3cr@t", "host": "db", "dbname": "d"}),
    ("postgresql://u:100%@db/d", {"user": "u", "password": "100%", "host": "db", "dbname": "d"}),
    ("postgresql://u:pw@[::1]:5433/d", {"user": "u", "password": "pw", "host": "::1", "port": "5433", "dbname": "d"}),
    ("postgresql://db/d?password=se cret&application_name=me@box",
     {"password": "se cret", "application_name": "me@box", "host": "db", "dbname": "d"}),
    ("postgresql+psycopg://u:pw@db/d", {"user": "u", "password": "pw", "host": "db", "dbname": "d"}),
    ("host=db user=u password='pa ss' dbname=d", {"host": "db", "user": "u", "password": "pa ss", "dbname": "d"}),
    ("host=db password=it\\'s", {"host": "db", "password": "it's"}),
])
def test_libpq_reads_the_password_we_hide(dsn, libpq_reads):
    normalized = normalize_dsn(dsn)
    assert conninfo_to_dict(normalized) == libpq_reads
    assert normalize_dsn(normalized) == normalized
    assert dsn_params(dsn) == libpq_reads


@pytest.mark.parametrize("dsn, reason", [
    ("postgresql://u:s3cr3t w0rd@[::1:5432/db", "closing ']'"),
    ("postgresql://u:s3cr3tw0rd/db", "a port must be a number"),
    ("postgresql://u:s3cr3t w0rd@h:port/db", "a port must be a number"),
    ("postgresql:/u:s3cr3t w0rd@h/db", "starts with postgresql://"),
    ("mysql://u:s3cr3t w0rd@h/db", "starts with postgresql://"),
    ("host=h password=s3cr3t w0rd", "not key=value pairs"),
    ("host=h password='s3cr3t w0rd", "not closed"),
    ("host=h passwrd=s3cr3tw0rd", 'invalid connection option "passwrd"'),
    ("postgresql://h/db?password=s3cr3t&w0rd=1", 'invalid URI query parameter: "w0rd"'),
    ("   ", "empty"),
])
def test_a_dsn_libpq_would_reject_is_a_clean_error(dsn, reason):
    with pytest.raises(DsnError) as caught:
        normalize_dsn(dsn)
    message = str(caught.value)
    assert reason in message
    assert "s3cr3t" not in message and "\n" not in message.strip()


def test_settings_normalise_the_dsn_and_name_the_variable(monkeypatch):
    monkeypatch.setenv("INGEST_DATABASE_URL", "postgresql://u:p@ss word@db/d")
    settings = Settings.from_env()
    assert settings.database_url == "postgresql://u:p%40ss%20word@db/d"
    assert settings.safe_database_url == "postgresql://u:***@db/d"
    monkeypatch.setenv("INGEST_DATABASE_URL", "postgresql://u:p@ss word@[::1/d")
    with pytest.raises(ValueError, match=r"^INGEST_DATABASE_URL cannot be used: postgresql://u:\*\*\*@\[::1/d: ") as e:
        Settings.from_env()
    assert "ss word" not in str(e.value)


def test_error_line_is_the_first_line_redacted():
    dsn = "postgresql://u:pa ss@h/d"
    assert error_line(RuntimeError(f"bad {dsn}\n\tdetail"), dsn) == "bad postgresql://u:***@h/d"
    assert error_line(RuntimeError("\n\n  second  \nthird")) == "second"
    assert error_line(KeyError()) == "KeyError"

    class Wrapped(Exception):  # SQLAlchemy keeps the driver's error in .orig
        orig = psycopg.OperationalError('unexpected spaces found in "pa ss"')

    assert error_line(Wrapped("(psycopg.OperationalError) ..."), dsn) == 'unexpected spaces found in "***"'


@pytest.mark.parametrize("dsn, url", [
    ("host=db port=5433 user=u password='pa ss' dbname=d", "postgresql+psycopg://u:pa%20ss@db:5433/d"),
    ("postgresql://u:p@ss@db/d?sslmode=require", "postgresql+psycopg://u:p%40ss@db/d?sslmode=require"),
    ("host=::1 user=u dbname=d", "postgresql+psycopg://u@[::1]/d"),
    ("postgresql://u@h1:5432,h2:5433/d", "postgresql+psycopg://u@/d?host=h1%2Ch2&port=5432%2C5433"),
])
def test_sqlalchemy_url_from_every_shape(dsn, url):
    from sqlalchemy.engine import make_url

    # compare what SQLAlchemy reads, not how it chooses to escape
    expected, got = make_url(url), make_url(sqlalchemy_url(dsn))
    assert (got.drivername, got.username, got.password, got.host, got.port, got.database, dict(got.query)) == \
        (expected.drivername, expected.username, expected.password, expected.host, expected.port,
         expected.database, dict(expected.query))


def test_the_live_log_hides_the_password_in_messages_and_tracebacks():
    import io
    import logging

    from ingest.live.logsetup import RedactFilter

    dsn = "postgresql://u:s3cr3t w0rd@db/d"
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(RedactFilter(dsn))
    log = logging.getLogger("test_dsn.redaction")
    log.addHandler(handler)
    log.propagate = False
    try:
        log.warning("connecting to %s", dsn)
        log.warning('libpq said: unexpected spaces found in "%s"', "s3cr3t w0rd")
        try:
            raise RuntimeError(f"cannot use {dsn}")
        except RuntimeError:
            log.exception("job failed")
    finally:
        log.removeHandler(handler)
    text = out.getvalue()
    assert "connecting to postgresql://u:***@db/d\n" in text
    assert 'libpq said: unexpected spaces found in "***"\n' in text
    assert "RuntimeError: cannot use postgresql://u:***@db/d" in text
    assert "s3cr3t" not in text and "w0rd" not in text
