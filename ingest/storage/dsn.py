"""PostgreSQL DSNs: the one place that knows their shapes, hides their passwords and makes them safe for libpq.

Two shapes exist (libpq's): a URL, ``postgresql://user:password@host:port/dbname?key=value``, and
key=value pairs, ``host=db user=u password='pa ss' dbname=d``. Users write passwords that libpq either
rejects or misreads in a URL (a space, a raw ``@``), and libpq then echoes the offending part in its error
message. So:

* ``redact_dsn`` hides every password in a DSN or in any text holding one (messages, logs, tracebacks);
* ``normalize_dsn`` rewrites a URL so that libpq reads exactly what we display (user and password
  percent-encoded), checks key=value quoting with libpq's own rules, and raises ``DsnError`` (whose text
  never holds the password) for what libpq would reject with an echo;
* ``error_line`` is the one way an error is shown: redacted, first line.

How a URL is split (libpq stops the user-info at the *first* ``@``; we take the last one that can end it):
the query starts at the first ``?`` followed by ``name=``; the user-info ends at the last ``@`` before the
query; the password is what follows the first ``:`` of the user-info. A password may therefore hold raw
``@``, ``:``, ``/``, ``?`` and spaces. The price: a raw ``@`` in the database name must be written ``%40``.
"""

from __future__ import annotations

import re
from functools import lru_cache
from urllib.parse import quote_from_bytes, unquote_to_bytes

REDACTED = "***"

# the schemes libpq takes as a URL; "postgresql+psycopg" (SQLAlchemy's spelling) is accepted too
LIBPQ_SCHEMES = ("postgresql", "postgres")

# any "scheme:/" or "scheme://" in text: a password can hide in any URL's user-info, and a URL written
# with one slash too few is still a URL to hide
_SCHEME = re.compile(r"(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]*:/{1,3}")
_QUERY_START = re.compile(r"\?(?=[A-Za-z_][A-Za-z0-9_]*=)")
_NEXT_QUERY_PARAM = re.compile(r"&(?=[A-Za-z_][A-Za-z0-9_]*=)")
# names whose value is a secret: password, sslpassword, PGPASSWORD, passwd, pass, passphrase ...
_SECRET_NAME = r"[A-Za-z_]*pass[A-Za-z_]*|pwd"
_QUERY_SECRET = re.compile(rf"[?&](?:{_SECRET_NAME})=", re.IGNORECASE)
_KV_SECRET = re.compile(rf"(?<![\w?&.%-])(?:{_SECRET_NAME})\s*=\s*", re.IGNORECASE)
_QUOTED_SECRET = re.compile(rf"(['\"])(?:{_SECRET_NAME})\1\s*:\s*(?=['\"])", re.IGNORECASE)
# the start of the next key=value pair: ends an unquoted value that holds spaces
_NEXT_KV = re.compile(r"\s+(?=[A-Za-z_][A-Za-z0-9_]*\s*=)")
# what may follow a value that is already '***' (so that redacting twice changes nothing)
_AFTER_REDACTED = re.compile(r"\*\*\*(?=$|[\s&'\"),;:@\]}])")


class DsnError(ValueError):
    """A DSN libpq cannot use; the message shows the DSN redacted (or not at all), never its password."""


# --- finding passwords --------------------------------------------------------------------------

def _line_end(text: str, pos: int) -> int:
    end = text.find("\n", pos)
    return len(text) if end < 0 else end


def _token_end(text: str, pos: int, limit: int) -> int:
    m = re.compile(r"\s").search(text, pos, limit)
    return m.start() if m else limit


def _url_region_end(text: str, start: int, limit: int, whole: bool) -> int:
    """Where the URL starting at `start` ends. In free text: at the first blank after its first '@',
    extended over following words that hold an '@' (a password with spaces and a raw '@')."""
    if whole:
        return limit
    first_at = text.find("@", start, limit)
    if first_at < 0:
        return _token_end(text, start, limit)
    end = _token_end(text, first_at, limit)
    while end < limit:
        word_start = end
        while word_start < limit and text[word_start].isspace():
            word_start += 1
        word_end = _token_end(text, word_start, limit)
        if "@" not in text[word_start:word_end]:
            break
        end = word_end
    return end


def _split_url(rest: str) -> tuple[int, int]:
    """(index of the '@' ending the user-info or -1, index of the query's '?' or len(rest))."""
    q = _QUERY_START.search(rest)
    query_at = q.start() if q else len(rest)
    already = rest.find(":" + REDACTED + "@", 0, query_at)
    if already >= 0:  # redacted before: the '@' right after '***' ends the user-info
        return already + len(REDACTED) + 1, query_at
    return rest.rfind("@", 0, query_at), query_at


def _userinfo_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    rest = text[start:end]
    at, query_at = _split_url(rest)
    if at >= 0:
        colon = rest.find(":", 0, at)
        return [(start + colon + 1, start + at)] if colon >= 0 else []
    # no user-info: "postgresql://u:secret/db" makes libpq read 'secret' as a port; a port is digits
    authority = re.split(r"[/?]", rest[:query_at], maxsplit=1)[0]
    spans, offset = [], start
    for host in authority.split(","):
        if not host.startswith("["):
            colon = host.find(":")
            if colon >= 0 and not host[colon + 1:].isdigit():
                spans.append((offset + colon + 1, offset + len(host)))
        offset += len(host) + 1
    return spans


def _value_end(text: str, pos: int, limit: int, stop: re.Pattern) -> int:
    """End of an unquoted secret value: the next `stop` match (a next parameter) or the line's end."""
    m = stop.search(text, pos, limit)
    return m.start() if m else limit


def _quoted_end(text: str, pos: int, limit: int) -> int:
    """End (after the closing quote) of a quoted value starting at `pos`, or `limit` if it is never
    closed; a backslash escapes the next character, as in libpq."""
    quote_char, i = text[pos], pos + 1
    while i < limit:
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == quote_char:
            return i + 1
        i += 1
    return limit


def password_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of every password in `text`: a DSN, or free text holding DSNs, in every shape."""
    spans: list[tuple[int, int]] = []
    whole = "\n" not in text.strip() and _SCHEME.match(text.strip()) is not None
    # URL user-info
    schemes = list(_SCHEME.finditer(text))
    for i, m in enumerate(schemes):
        limit = _line_end(text, m.end())
        if i + 1 < len(schemes):
            limit = min(limit, schemes[i + 1].start())
        spans += _userinfo_spans(text, m.end(), _url_region_end(text, m.end(), limit, whole))
    # URL query ?password=...: up to the next parameter
    for m in _QUERY_SECRET.finditer(text):
        if not _AFTER_REDACTED.match(text, m.end()):
            spans.append((m.end(), _value_end(text, m.end(), _line_end(text, m.end()), _NEXT_QUERY_PARAM)))
    # key=value password=...: quoted (libpq quoting), or unquoted up to the next key=value pair
    for m in _KV_SECRET.finditer(text):
        pos, limit = m.end(), _line_end(text, m.end())
        if pos >= limit or _AFTER_REDACTED.match(text, pos):
            continue
        if text[pos] in "'\"":  # the quotes go too: password=***
            spans.append((pos, _quoted_end(text, pos, limit)))
        else:
            spans.append((pos, _value_end(text, pos, limit, _NEXT_KV)))
    # 'password': '...' (a dict or JSON printed): the quotes stay
    for m in _QUOTED_SECRET.finditer(text):
        pos, limit = m.end(), _line_end(text, m.end())
        end = _quoted_end(text, pos, limit)
        closed = end - 1 > pos and text[end - 1] == text[pos]
        spans.append((pos + 1, end - 1 if closed else end))
    return [(a, b) for a, b in spans if b > a]


def _secrets_of(dsn: str) -> set[str]:
    """The password(s) a DSN holds, as written and decoded: what an error message might echo."""
    found = set()
    for a, b in password_spans(dsn):
        raw = dsn[a:b]
        if raw == REDACTED:
            continue
        found.add(raw)
        if raw[:1] in "'\"" and raw[-1:] == raw[:1]:
            raw = raw[1:-1]
        found.add(re.sub(r"\\(.)", r"\1", raw))
        found.add(unquote_to_bytes(raw).decode("utf-8", "replace"))
        found.add(_encode(raw))
    return {s for s in found if s.strip()}


@lru_cache(maxsize=16)
def _secret_patterns(dsn: str) -> tuple[re.Pattern, ...]:
    """A DSN's password(s) as patterns matching them alone (not inside a longer word), longest first."""
    return tuple(re.compile(r"(?<![A-Za-z0-9])" + re.escape(secret) + r"(?![A-Za-z0-9])")
                 for secret in sorted(_secrets_of(dsn), key=len, reverse=True))


def redact_dsn(text: str, dsn: str | None = None) -> str:
    """`text` with every password replaced by '***': a DSN of any shape, or a message, log line or
    traceback holding DSNs. With `dsn`, that DSN's password is also hidden wherever it appears alone
    (libpq quotes the offending part of a DSN it rejects)."""
    if not text:
        return text
    spans = password_spans(text)
    for pattern in _secret_patterns(dsn) if dsn else ():
        spans += [(m.start(), m.end()) for m in pattern.finditer(text)]
    if not spans:
        return text
    out, pos = [], 0
    for a, b in sorted(spans):
        if b <= pos:
            continue
        a = max(a, pos)
        out.append(text[pos:a] + REDACTED)
        pos = b
    out.append(text[pos:])
    return "".join(out)


def error_line(exc: BaseException, dsn: str | None = None) -> str:
    """How every error is shown: the driver's own error (SQLAlchemy keeps it in `.orig`), passwords
    redacted, its first non-empty line; the exception's type name if it has no text."""
    inner = getattr(exc, "orig", None) or exc
    for line in redact_dsn(str(inner), dsn).splitlines():
        if line.strip():
            return line.strip()
    return type(inner).__name__


# --- making a DSN safe for libpq ----------------------------------------------------------------

def _encode(part: str) -> str:
    """Percent-decode as libpq does (an invalid escape stays literal), then encode every reserved byte."""
    return quote_from_bytes(unquote_to_bytes(part), safe="")


def is_url(dsn: str) -> bool:
    return _SCHEME.match(dsn.strip()) is not None


def _normalize_url(dsn: str) -> str:
    text = dsn.strip()
    m = re.match(r"([A-Za-z][A-Za-z0-9+.-]*)://", text)
    scheme = m.group(1).split("+", 1)[0].lower() if m else ""
    if scheme not in LIBPQ_SCHEMES:
        raise DsnError(f"{redact_dsn(text)}: a database URL starts with postgresql:// (or postgres://)")
    rest = text[m.end():]
    at, query_at = _split_url(rest)
    userinfo = ""
    if at >= 0:
        user, colon, password = rest[:at].partition(":")
        userinfo = _encode(user) + (":" + _encode(password) if colon else "") + "@"
    hostpath = rest[at + 1:query_at]
    authority, slash, dbname = hostpath.partition("/")
    if any(c.isspace() for c in authority):
        raise DsnError(f"{redact_dsn(text)}: the host part holds a blank")
    for host in authority.split(","):
        if host.startswith("[") and "]" not in host:
            raise DsnError(f"{redact_dsn(text)}: an IPv6 address needs its closing ']' "
                           "(postgresql://user@[::1]:5432/db)")
        port = host.rsplit("]", 1)[-1].partition(":")[2] if host.startswith("[") else host.partition(":")[2]
        if port and not port.isdigit():
            raise DsnError(f"{redact_dsn(text)}: a port must be a number (a password goes in "
                           "user:password@ before the host)")
    query = ""
    if query_at < len(rest):
        params = _NEXT_QUERY_PARAM.split(rest[query_at + 1:])
        query = "?" + "&".join(f"{name}={_encode(value)}" for name, _, value in (p.partition("=") for p in params))
    return f"{scheme}://{userinfo}{authority}{slash}{_encode(dbname) if dbname else ''}{query}"


def parse_key_value(dsn: str) -> list[tuple[str, str]]:
    """key=value pairs read with libpq's rules (values in single quotes may hold blanks; a backslash
    escapes the next character). Raises DsnError, without echoing any value, where libpq would fail."""
    pairs: list[tuple[str, str]] = []
    i, n = 0, len(dsn)
    while True:
        while i < n and dsn[i].isspace():
            i += 1
        if i >= n:
            return pairs
        start = i
        while i < n and dsn[i] != "=" and not dsn[i].isspace():
            i += 1
        name = dsn[start:i]
        while i < n and dsn[i].isspace():
            i += 1
        if i >= n or dsn[i] != "=" or not name:
            raise DsnError(f"{redact_dsn(dsn)}: not key=value pairs (a value with blanks goes in single "
                           "quotes: password='...')")
        i += 1
        while i < n and dsn[i].isspace():
            i += 1
        value = []
        if i < n and dsn[i] == "'":
            i += 1
            while True:
                if i >= n:
                    raise DsnError(f"{redact_dsn(dsn)}: a quoted value is not closed")
                if dsn[i] == "\\" and i + 1 < n:
                    value.append(dsn[i + 1])
                    i += 2
                elif dsn[i] == "'":
                    i += 1
                    break
                else:
                    value.append(dsn[i])
                    i += 1
        else:
            while i < n and not dsn[i].isspace():
                if dsn[i] == "\\" and i + 1 < n:
                    value.append(dsn[i + 1])
                    i += 2
                else:
                    value.append(dsn[i])
                    i += 1
        pairs.append((name, "".join(value)))


def normalize_dsn(dsn: str) -> str:
    """`dsn` as libpq will read it the way we display it: a URL with its user, password, database and
    query values percent-encoded; key=value pairs unchanged once checked. Idempotent. DsnError (with
    no password in it) for a DSN libpq would reject."""
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    if not dsn or not dsn.strip():
        raise DsnError("the database DSN is empty")
    if is_url(dsn):
        normalized = _normalize_url(dsn)
    else:
        parse_key_value(dsn)
        normalized = dsn.strip()
    try:
        conninfo_to_dict(normalized)  # libpq's own parser: unknown parameter names, bad URI syntax
    except psycopg.Error as exc:
        raise DsnError(f"{redact_dsn(dsn)}: {error_line(exc, dsn)}") from None
    return normalized


def dsn_params(dsn: str) -> dict[str, str]:
    """The connection parameters libpq reads from `dsn` (host, port, user, password, dbname, ...)."""
    from psycopg.conninfo import conninfo_to_dict

    return {k: str(v) for k, v in conninfo_to_dict(normalize_dsn(dsn)).items()}
