"""Schemathesis fuzzes the API from its own OpenAPI document: never a 5xx, every answer as documented.

Each operation gets cases that fit its schema (positive) and, where it takes input, cases that break it
(negative), sent in-process to the ASGI app. Checked: no 5xx (nor an exception), documented status codes,
content types and response bodies (every 4xx is ``{"detail": "..."}``), and that what the document calls
invalid is refused, so the request schema says exactly what the server accepts.
"""

from collections import Counter

import pytest

schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from digitnet.modelfile import load_model  # noqa: E402
from digitnet.models import DEFAULT_NAME, bundled_models  # noqa: E402
from digitnet.serve import create_app  # noqa: E402

EXAMPLES = {"POST /api/predict": 300}
"""Cases per operation and mode, 150 unless named: 300 for predict, where a few in 100 break the shape."""

MODELS = {name: load_model(path) for name, path in bundled_models().items()}
APP = create_app(MODELS, DEFAULT_NAME, allowed_hosts=["testserver"])  # the Host of Starlette's TestClient
SCHEMA = schemathesis.openapi.from_asgi("/openapi.json", APP)
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]
RUNS = [(op, mode) for op in OPERATIONS for mode in GenerationMode if mode.is_positive or op.query or op.body]
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def rejected(ctx, response, case):
    """``negative_data_rejection``, with 413 counted as a rejection too: a body over 1 MB is refused for
    its size before anything reads its shape (schemathesis's own list of rejections leaves 413 out)."""
    if response.status_code == 413:
        return None
    return negative_data_rejection(ctx, response, case)


LENIENT = {"GET /api/random-digit"}
"""Operations whose query parsing is kinder than the document: FastAPI reads ``index=8%20`` as 8."""


@pytest.mark.parametrize("operation, mode", RUNS, ids=[f"{op.label} {mode.value}" for op, mode in RUNS])
def test_the_api_answers_as_its_schema_says(operation, mode):
    checks = CHECKS if mode.is_positive or operation.label in LENIENT else [*CHECKS, rejected]
    statuses = Counter()

    # no shrinking: a failing case is reported as found (shrinking a body of 784 numbers takes minutes)
    @settings(
        max_examples=EXAMPLES.get(operation.label, 150),
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def fuzz(case):
        response = case.call()  # an exception in the app is raised here, not turned into a 500
        statuses[response.status_code] += 1
        case.validate_response(response, checks=checks)

    fuzz()
    assert statuses and max(statuses) < 500, statuses
    print(
        f"{operation.label} {mode.value}: {statuses.total()} cases, statuses {dict(sorted(statuses.items()))}"
    )
