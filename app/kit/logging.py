"""Structured JSON logs, one object per line, each carrying the request id when there is one."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

import orjson

from app.kit.context import request_id_var

_RESERVED = set(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = request_id_var.get()
        if request_id:
            entry["request_id"] = request_id
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        try:
            # orjson: a fifth of json.dumps's time, and this runs for every request (the access log).
            return orjson.dumps(entry, default=str).decode()
        except TypeError:  # e.g. an integer beyond 64 bits
            return json.dumps(entry, ensure_ascii=False, default=str)


class PoolResetOfDeadConnection(logging.Filter):
    """SQLAlchemy's pool logs, with a traceback, every pooled connection it could not roll back on return.
    When the database went away that is expected (the request itself was answered 503 and logged once):
    keep one line without the traceback, so an outage does not flood the log."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("sqlalchemy.pool") and record.exc_info and record.exc_info[1] is not None:
            from app.kit.faults import is_disconnect

            if is_disconnect(record.exc_info[1]):
                record.msg = (
                    f"{record.getMessage()}: the database connection was gone ({record.exc_info[1]!r})"
                )
                record.args = ()
                record.exc_info = None
                record.exc_text = None
                record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(PoolResetOfDeadConnection())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # Our middleware writes one access line per request; uvicorn's own would repeat it.
    logging.getLogger("uvicorn.access").handlers[:] = []
    logging.getLogger("uvicorn.access").propagate = False
