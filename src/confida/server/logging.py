"""No personal data in server logs: every log record passes through a redactor.

Request paths name subjects (``/v1/subjects/{id}/...``), and access logs carry client IP
addresses; both are personal data. :class:`RedactingFilter` rewrites each record's message
before any handler formats it: with ``confida.pii`` installed, through its detector (everything
found is replaced by its label); in any case through a conservative built-in masker for e-mail
addresses, IP addresses, long digit runs and the subject segment of API paths. An access line
names the path by its route template when the app answered it (``/v1/subjects/[subject]/
records``, ``[unmatched]`` where no route matched): a concrete path can hold anything a client
put in it. An exception attached to a record is reduced to what :mod:`confida.error_detail`
keeps: its type, the database constraint it broke and where in Confida it was raised.

``[api] log_format = "json"`` writes each line as one JSON object (:class:`JsonFormatter`):
``time``, ``level``, ``logger``, ``message`` (redacted as above) and ``request_id`` (the
``X-Request-Id`` of the request being served, ``null`` outside one); access lines also carry
``method``, ``path`` (redacted) and ``status``.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from datetime import UTC, datetime

from confida.error_detail import describe
from confida.operation import request_id

_EMAIL = re.compile(r"[^\s@/\"'<>()]+@[^\s@/\"'<>()]+\.[A-Za-z]{2,}")
_IPV4 = re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b")
_IPV6 = re.compile(r"\b(?:[0-9A-Fa-f]{1,4}:){2,7}[0-9A-Fa-f]{0,4}\b|::1\b")
_DIGITS = re.compile(r"\d(?:[\d \-]{4,}\d)")
_SUBJECT_PATH = re.compile(r"(/v1/subjects/)[^/\s?\"]+")
_QUERY = re.compile(r"\?[^\s\"]*")

#: The path the access log line of the request being answered shows, set by the request-id
#: middleware when the response starts (``confida.server.request_id.logged_path``): the route
#: template, never the concrete path. None (a request the app never saw): the concrete path,
#: redacted.
access_path: ContextVar[str | None] = ContextVar("confida_access_path", default=None)


def builtin_redact(text: str) -> str:
    text = _SUBJECT_PATH.sub(r"\1[subject]", text)
    text = _QUERY.sub("?[query]", text)
    text = _EMAIL.sub("[email]", text)
    text = _IPV4.sub("[ip]", text)
    text = _IPV6.sub("[ip]", text)
    return _DIGITS.sub("[number]", text)


def _pii_redactor(names: str = "model") -> Callable[[str], str] | None:
    try:
        from confida.pii import detect
    except ImportError:
        return None

    def redact(text: str) -> str:
        findings = sorted(detect(text, names=names), key=lambda f: f.start, reverse=True)
        for f in findings:
            text = text[: f.start] + f"[{f.label}]" + text[f.end :]
        return text

    return redact


#: uvicorn's start-up line, ``Uvicorn running on %s://%s:%d``: the message is a fixed format
#: and the arguments are the address this server was told to listen on.
OWN_ADDRESS = "Uvicorn running on "


class RedactingFilter(logging.Filter):
    """Replaces a record's message by its redacted form (args are folded in first)."""

    def __init__(self) -> None:
        super().__init__()
        self._pii = _pii_redactor()
        # A request path is not prose: the rules (e-mail, numbers, identifiers, the subject
        # segment below) without the name tagger, which cost more than the rest of a read.
        self._pii_path = _pii_redactor("rules")

    def redact(self, text: str, *, path: bool = False) -> str:
        pii = self._pii_path if path else self._pii
        if pii is not None:
            try:
                text = pii(text)
            except Exception:  # noqa: BLE001 - never lose a log line to the detector
                text = "[log message withheld: redaction failed]"
        return builtin_redact(text)

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if record.name == "uvicorn.access" and isinstance(args, tuple) and len(args) == 5:
            # uvicorn's access formatter unpacks these five: keep the shape, drop the client
            # address (personal data) and redact the path.
            _client, method, path, version, status = args
            shown = access_path.get()
            if shown is None:
                shown = self.redact(str(path), path=True)
            record.args = ("-", method, shown, version, status)
            return True
        if record.name == "uvicorn.error" and str(record.msg).startswith(OWN_ADDRESS):
            # the server's own address, which the operator needs to see: not personal data
            return True
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001
            message = str(record.msg)
        record.msg = self.redact(message)
        record.args = None
        if record.exc_info:
            # Tracebacks and exception texts can quote values: keep the type, the constraint
            # and the place in Confida's code, which are names, never data.
            exc = record.exc_info[1]
            record.msg += f" [{describe(exc) if exc is not None else 'error'}]"
            record.exc_info = None
            record.exc_text = None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line; the message is what the redacting filter left of it."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": request_id.get(),
        }
        args = record.args
        if record.name == "uvicorn.access" and isinstance(args, tuple) and len(args) == 5:
            _client, method, path, _version, status = args
            doc.update(method=str(method), path=str(path), status=status)
        # never a traceback: exception texts can quote values (the filter reduced them)
        return json.dumps(doc, ensure_ascii=False, default=str)


LOGGERS = ("", "uvicorn", "uvicorn.error", "uvicorn.access", "confida", "fastapi")
FORMATS = ("text", "json")


def install(logger_names: Iterable[str] = LOGGERS, log_format: str = "text") -> RedactingFilter:
    """Attach one filter to every handler of the server's loggers (and to the loggers); with
    ``log_format="json"`` their handlers write :class:`JsonFormatter` lines.

    With JSON, records of ``confida.*`` loggers, which propagate to the root logger, need a
    handler there to be formatted too: when the root has none, one is added (to stderr, at
    WARNING, as Python's last-resort handler would print them)."""
    if log_format not in FORMATS:
        raise ValueError(f"log format {log_format!r}: use one of {', '.join(FORMATS)}")
    flt = RedactingFilter()
    formatter = JsonFormatter() if log_format == "json" else None
    root = logging.getLogger()
    if formatter is not None and not root.handlers:
        handler = logging.StreamHandler()
        handler.setLevel(logging.WARNING)  # as the last-resort handler
        root.addHandler(handler)
    for name in logger_names:
        lg = logging.getLogger(name)
        if flt not in lg.filters:
            lg.addFilter(flt)
        for h in lg.handlers:
            if flt not in h.filters:
                h.addFilter(flt)
            if formatter is not None:
                h.setFormatter(formatter)
    return flt
