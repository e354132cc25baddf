"""Property-based requests generated from /openapi.json: no operation answers 5xx.

Bounded for CI: a few examples per operation, derandomized, one app and database for the run.
"""

from __future__ import annotations

from collections import Counter

import hypothesis
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.python import asgi

from warp.api.app import create_app
from warp_auth_fixtures import TEST_POLICY, World

EXAMPLES_PER_OPERATION = 6


def test_no_generated_request_gets_a_server_error(world: World) -> None:
    key = world.key(world.acme, None, rate_limits=(100_000, 1_000_000, 10_000_000))
    auth = {"Authorization": f"Bearer {key}"}
    app = create_app(world.url, policy=TEST_POLICY, pool_size=4, request_log=False)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures: list[str] = []
    statuses: Counter[int] = Counter()
    operations = 0
    with asgi.get_client(app) as client:
        for result in schema.get_all_operations():
            operation = result.ok()
            operations += 1

            @settings(
                max_examples=EXAMPLES_PER_OPERATION,
                deadline=None,
                database=None,
                derandomize=True,
                suppress_health_check=list(HealthCheck),
                phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
            )
            @hypothesis.given(case=operation.as_strategy())
            def check(case: schemathesis.Case) -> None:
                response = case.call(session=client, headers=auth)
                statuses[response.status_code] += 1
                if response.status_code >= 500:
                    failures.append(
                        f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:200]}"
                    )

            check()
    assert operations >= 15
    assert failures == []
    assert statuses[200] > 0 and statuses[422] > 0, (
        statuses
    )  # authenticated, and both valid and invalid input
    print(dict(statuses))
