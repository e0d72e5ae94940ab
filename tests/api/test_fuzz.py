"""Schema fuzzing: schemathesis against the app's own OpenAPI, in process.

Every check schemathesis has (its defaults: no 5xx, documented status codes, content
types and schemas, and ``negative_data_rejection``: a request that breaks the schema,
e.g. a boolean where an integer belongs, must not be accepted) on data that follows the
schema and on data that breaks it. Bounded: a few derandomised examples per operation
and mode. ``positive_data_acceptance`` is left out: domain rules the schema cannot say
(an installation-wide key must name a brand when there are several, a referenced order
must exist) rightly answer 400 to requests that fit the schema.
"""

from __future__ import annotations

import pytest
import schemathesis
from apitest import Keys
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from recompra.api.settings import ApiSettings

#: About 30 s per parameter set in CI: slow, so scripts/test hands this file out early.
pytestmark = pytest.mark.slow


@pytest.fixture
def api_settings() -> ApiSettings:
    """No rate limit in the way of the fuzzer."""
    return ApiSettings(rate_limit_burst=100_000, rate_limit_per_second=100_000)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@pytest.mark.parametrize("key_name", ["admin", "read_a"])
def test_every_check_holds(app: FastAPI, keys: Keys, key_name: str, mode: GenerationMode) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    key = getattr(keys, key_name)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 16

    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=8,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case: schemathesis.Case) -> None:
            # Passed as the caller's headers (not put into the generated case), so that
            # the auth checks know the key is real and try the request without it.
            case.call_and_validate(
                headers={"Authorization": f"Bearer {key}"},
                excluded_checks=[positive_data_acceptance],
            )

        try:
            run()
        except Unsatisfiable:
            # Negative mode: an operation with no parameter or body has nothing to break.
            assert mode is GenerationMode.NEGATIVE
