"""Property-based fuzzing of the whole API from its own OpenAPI document (schemathesis).

Every operation gets generated requests, valid and invalid (bounded: a few dozen examples per
operation), sent in-process over ASGI to the real app, store and key store, with an admin API key
so that requests get past authentication and reach the core. Checks: no 5xx; the status code, the
content type, the headers and the body all conform to the document.

``positive_data_acceptance`` is left out on purpose: the schema cannot express the register
(which kinds, purposes and fields exist), so a schema-valid request may rightly get a 4xx.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from confida.config import ApiSettings, Config
from confida.server.app import create_app
from tests.apihelp import setup
from tests.conftest import database

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance, negative_data_rejection]


@pytest.fixture(scope="module")
def fuzz_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp: Path = tmp_path_factory.mktemp("fuzz")
    with database(tmp) as url:
        cfg, keys = setup(tmp, url, api=ApiSettings(rate_per_second=100_000, rate_burst=100_000))
        app = create_app(cfg)
        yield {"app": app, "keys": keys}
        app.state.ctx.close()


@pytest.fixture(scope="module")
def api_schema(fuzz_env: dict[str, Any]) -> Any:
    return schemathesis.openapi.from_asgi("/openapi.json", fuzz_env["app"])


# The operations, read from the document itself (building the app touches no disk). Invalid
# requests exist only where an operation takes input.
_DOC = create_app(Config(data_dir=Path("/nonexistent"))).openapi()
OPERATIONS = [
    (method.upper(), path, mode)
    for path, item in _DOC["paths"].items()
    for method, op in item.items()
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    if mode is GenerationMode.POSITIVE or op.get("parameters") or op.get("requestBody")
]


def _headers_mutated(case: Any) -> bool:
    """Whether schemathesis made this negative case's headers invalid (not its body or query)."""
    meta = getattr(case, "_meta", None)
    info = meta.components.get(ParameterLocation.HEADER) if meta is not None else None
    return info is not None and info.mode is GenerationMode.NEGATIVE


@pytest.mark.parametrize(("method", "path", "mode"), OPERATIONS,
                         ids=[f"{m} {p} {g.value}" for m, p, g in OPERATIONS])
def test_api_conforms_to_its_openapi_document(
    api_schema: Any, fuzz_env: dict[str, Any], method: str, path: str, mode: GenerationMode
) -> None:
    operation = api_schema[path][method]
    headers = {"Authorization": f"Bearer {fuzz_env['keys']['admin']}"}

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck),
              database=None)
    def run(case: Any) -> None:
        h = dict(headers)
        if mode is GenerationMode.NEGATIVE and (
            "Authorization" not in (case.headers or {}) or _headers_mutated(case)
        ):
            # the mutation removed or changed the credential: keep what it made (replacing a
            # mutated header with a valid key turned an invalid request into a valid one)
            del h["Authorization"]
        if "Confida-Purpose" not in (case.headers or {}):
            h["Confida-Purpose"] = "service"
        checks = CHECKS if mode is GenerationMode.NEGATIVE else CHECKS[:-1]
        case.call_and_validate(headers=h, checks=checks)

    run()
