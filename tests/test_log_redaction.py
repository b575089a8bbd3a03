"""Server log records pass through the redactor without breaking uvicorn's formatters."""

from __future__ import annotations

import logging

from uvicorn.logging import AccessFormatter

from confida.server.logging import RedactingFilter


def test_access_log_keeps_its_shape_and_loses_personal_data() -> None:
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
        ("203.0.113.7:5555", "GET", "/v1/subjects/jane.roe@example.org/records", "1.1", 200),
        None,
    )
    assert RedactingFilter().filter(record)
    line = AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s',
                           use_colors=False).format(record)
    assert "203.0.113.7" not in line and "jane.roe@example.org" not in line
    assert line.startswith('- - "GET /v1/subjects/') and line.endswith("200 OK")


def test_plain_records_are_redacted() -> None:
    record = logging.LogRecord("confida", logging.INFO, __file__, 1, "mail %s", ("a@b.example",),
                               None)
    RedactingFilter().filter(record)
    assert "a@b.example" not in record.getMessage()


def test_the_servers_own_address_is_printed_as_it_is() -> None:
    """The start-up line names where the server listens: the operator needs the real URL."""
    record = logging.LogRecord("uvicorn.error", logging.INFO, __file__, 1,
                               "Uvicorn running on %s://%s:%d (Press CTRL+C to quit)",
                               ("https", "127.0.0.1", 8443), None)
    assert RedactingFilter().filter(record)
    assert record.getMessage() == "Uvicorn running on https://127.0.0.1:8443 (Press CTRL+C to quit)"


def test_other_server_lines_with_an_address_are_still_redacted() -> None:
    record = logging.LogRecord("uvicorn.error", logging.INFO, __file__, 1,
                               "client %s sent jane.roe@example.org", ("203.0.113.7",), None)
    RedactingFilter().filter(record)
    assert "203.0.113.7" not in record.getMessage()
    assert "jane.roe@example.org" not in record.getMessage()
