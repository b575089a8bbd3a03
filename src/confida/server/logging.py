"""No personal data in server logs: every log record passes through a redactor.

Request paths name subjects (``/v1/subjects/{id}/...``), and access logs carry client IP
addresses; both are personal data. :class:`RedactingFilter` rewrites each record's message before
any handler formats it: with ``confida.pii`` installed, through its detector (everything found is
replaced by its label); in any case through a conservative built-in masker for e-mail addresses,
IP addresses, long digit runs and the subject segment of API paths. An exception attached to
a record is reduced to what :mod:`confida.error_detail` keeps: its type, the database
constraint it broke and where in Confida it was raised.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable

from confida.error_detail import describe

_EMAIL = re.compile(r"[^\s@/\"'<>()]+@[^\s@/\"'<>()]+\.[A-Za-z]{2,}")
_IPV4 = re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b")
_IPV6 = re.compile(r"\b(?:[0-9A-Fa-f]{1,4}:){2,7}[0-9A-Fa-f]{0,4}\b|::1\b")
_DIGITS = re.compile(r"\d(?:[\d \-]{4,}\d)")
_SUBJECT_PATH = re.compile(r"(/v1/subjects/)[^/\s?\"]+")
_QUERY = re.compile(r"\?[^\s\"]*")


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
            record.args = ("-", method, self.redact(str(path), path=True), version, status)
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


LOGGERS = ("", "uvicorn", "uvicorn.error", "uvicorn.access", "confida", "fastapi")


def install(logger_names: Iterable[str] = LOGGERS) -> RedactingFilter:
    """Attach one filter to every handler of the server's loggers (and to the loggers)."""
    flt = RedactingFilter()
    for name in logger_names:
        lg = logging.getLogger(name)
        if flt not in lg.filters:
            lg.addFilter(flt)
        for h in lg.handlers:
            if flt not in h.filters:
                h.addFilter(flt)
    return flt
