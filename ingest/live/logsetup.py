"""Logging of `ingest run`: stderr and a rotating file (Settings.log_file, log_max_bytes, log_backups),
with every DSN password replaced by '***' whatever a message or a traceback contains."""

from __future__ import annotations

import logging
import logging.handlers
import sys

from ingest.config import Settings, redact_dsn

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class RedactFilter(logging.Filter):
    def __init__(self, dsn: str | None = None):
        super().__init__()
        self.dsn = dsn  # its password is hidden even where a message quotes it alone

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not kill logging
            message = str(record.msg)
        record.msg, record.args = redact_dsn(message, self.dsn), ()
        if record.exc_info:
            record.exc_text = redact_dsn(logging.Formatter().formatException(record.exc_info), self.dsn)
            record.exc_info = None
        return True


def setup(settings: Settings, level: int = logging.INFO) -> logging.Logger:
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, "_ingest_live", False):
            root.removeHandler(h)
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if settings.log_file:
        settings.log_file.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.handlers.RotatingFileHandler(
            settings.log_file, maxBytes=settings.log_max_bytes, backupCount=settings.log_backups,
            encoding="utf-8"))
    for h in handlers:
        h._ingest_live = True  # type: ignore[attr-defined]
        h.setFormatter(logging.Formatter(FORMAT))
        h.addFilter(RedactFilter(settings.database_url))
        root.addHandler(h)
    root.setLevel(level)
    # one line per job run is ours; APScheduler's own per-run chatter is not needed
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("urllib3").setLevel(logging.WARNING)
    logging.getLogger("psycopg.pool").setLevel(logging.ERROR)
    return root
