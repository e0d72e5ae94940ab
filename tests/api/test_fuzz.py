"""Schema fuzzing: schemathesis against the app's own OpenAPI, in process.

No generated request may produce a 5xx, and responses must match the documented status
codes, content types and schemas. Bounded: a few derandomised examples per operation.
"""

from __future__ import annotations

import pytest
import schemathesis
from apitest import Keys
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from recompra.api.settings import ApiSettings

CHECKS = [
    schemathesis.checks.not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture
def api_settings() -> ApiSettings:
    """No rate limit in the way of the fuzzer."""
    return ApiSettings(rate_limit_burst=100_000, rate_limit_per_second=100_000)


@pytest.mark.parametrize("key_name", ["admin", "read_a"])
def test_no_server_errors(app: FastAPI, keys: Keys, key_name: str) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    key = getattr(keys, key_name)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 16

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=12,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case: schemathesis.Case) -> None:
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {key}"}
            case.call_and_validate(checks=CHECKS)

        run()
