"""Log configuration: plain text for people, or one JSON object a line for log shippers.

Every record logged while a request is handled carries that request's id (the one echoed in
``X-Request-ID`` and in problem bodies), so a line can be traced to the request behind it.

No line carries a credential, whichever library logged it: the handler sitrep installs, and
uvicorn's loggers (which write through handlers of their own), pass every record through
``redact``, which takes user info and queries out of URLs and masks passwords, bearer and sitrep
tokens and the webhook secret.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import IO

from api.tokens import PREFIX as TOKEN_PREFIX
from projections.alerts import public_url

#: The id of the HTTP request being handled in this context, if any.
REQUEST_ID: ContextVar[str | None] = ContextVar("sitrep_request_id", default=None)

TEXT_FORMAT = "%(levelname)s %(name)s: %(message)s"

#: Loggers held at WARNING: httpx and httpcore log every request at INFO (sitrep.webhooks logs
#: each delivery itself), APScheduler every run of every job (every few seconds).
QUIET = ("httpx", "httpcore", "apscheduler")
#: uvicorn gives these handlers of its own, after ours and not propagating: the filter goes on
#: the loggers themselves (uvicorn's dictConfig replaces handlers but keeps filters).
UVICORN = ("uvicorn", "uvicorn.error", "uvicorn.asgi")

MASK = "***"

# --- redaction ---------------------------------------------------------------------------

_URL = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s\"'<>`]+")
_SECRET_NAME = r"\w*(?:password|passwd|pwd|token|secret|api[_-]?key)\w*"
# name=value as in query strings, libpq conninfo and environment assignments
_PARAMETER = re.compile(
    rf"(?i)\b({_SECRET_NAME}\s*=\s*)('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|[^\s&;,'\"<>]+)"
)
# "name": "value" as in JSON and Python reprs
_FIELD = re.compile(rf"(?i)([\"'])({_SECRET_NAME})\1(\s*:\s*)([\"'])(?:(?!\4).)*\4")
_AUTHORIZATION = re.compile(r"(?i)\b(authorization[\"']?\s*[:=]\s*[\"']?)(\w+ +)?[^\s\"',;)]+")
_BEARER = re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/-]+=*")
_SITREP_TOKEN = re.compile(rf"\b({re.escape(TOKEN_PREFIX)}_[0-9a-f]+_)[A-Za-z0-9_-]+")
_WEBHOOK_SECRET = re.compile(r"\b(whsec_)[A-Za-z0-9+/=]+")


def shown_url(url: str) -> str:
    """A URL fit to log or show (``public_url``: no user info, no query), or only its scheme
    when it is too malformed to take apart."""
    try:
        return public_url(url)
    except ValueError:  # a port that is not a number, a broken IPv6 address
        return f"{url.partition('://')[0]}://{MASK}"


def redact(text: str) -> str:
    """``text`` with every URL as ``shown_url`` gives it and every password, token and secret
    masked; what is left still names the host, the path and what happened."""
    text = _URL.sub(lambda match: shown_url(match[0]), text)
    text = _PARAMETER.sub(rf"\g<1>{MASK}", text)
    text = _FIELD.sub(rf"\g<1>\g<2>\g<1>\g<3>\g<4>{MASK}\g<4>", text)
    text = _AUTHORIZATION.sub(lambda m: f"{m[1]}{m[2] or ''}{MASK}", text)
    text = _BEARER.sub(rf"\g<1>{MASK}", text)
    text = _SITREP_TOKEN.sub(rf"\g<1>{MASK}", text)
    return _WEBHOOK_SECRET.sub(rf"\g<1>{MASK}", text)


_TRACEBACKS = logging.Formatter()


class RedactingFilter(logging.Filter):
    """Rewrites each record through ``redact``: its message with the arguments applied, its
    traceback and its stack. Records with nothing to hide keep their arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            # logging would print the raw arguments to stderr ("--- Logging error ---")
            record.args = ()
            message = str(record.msg)
        shown = redact(message)
        if shown != message:
            record.msg, record.args = shown, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = _TRACEBACKS.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


# --- formats -----------------------------------------------------------------------------


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (UTC), level, logger, message, request id, exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = REQUEST_ID.get()
        if request_id is not None:
            entry["request_id"] = request_id
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text  # as RedactingFilter left it
        return json.dumps(entry, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """The plain format, with ``[request id]`` when a request is being handled."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        request_id = REQUEST_ID.get()
        return f"{text} [{request_id}]" if request_id is not None else text


def formatter(kind: str) -> logging.Formatter:
    return JsonFormatter() if kind == "json" else TextFormatter()


# --- configuration -----------------------------------------------------------------------


class StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is when a record is emitted (test runners swap it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> IO[str]:
        return sys.stderr

    @stream.setter
    def stream(self, value: IO[str]) -> None:
        pass


def handler(kind: str, stream: IO[str] | None = None) -> logging.Handler:
    """A handler writing ``kind`` lines (text or json), redacted, to ``stream`` or stderr."""
    target = StderrHandler() if stream is None else logging.StreamHandler(stream)
    target.setFormatter(formatter(kind))
    target.addFilter(RedactingFilter())
    return target


def configure(level: int, kind: str = "text") -> None:
    """The one logging configuration of a process: records at ``level`` and above to stderr as
    ``kind`` lines, redacted, and quiet defaults for chatty libraries."""
    # basicConfig does nothing when the root logger already has handlers (an embedding
    # program, or a test runner), so this configures logging once per process at most.
    logging.basicConfig(level=level, handlers=[handler(kind)])
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
    for name in UVICORN:
        logger = logging.getLogger(name)
        if not any(isinstance(existing, RedactingFilter) for existing in logger.filters):
            logger.addFilter(RedactingFilter())
