"""Property-based requests to the staff vendor, provider, carrier-metrics and compliance operations,
authenticated as staff (the API-wide run uses a customer key, which these routes refuse before any
handler runs): no generated request gets a server error."""

from __future__ import annotations

from collections import Counter

import hypothesis
import psycopg
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.python import asgi

from warp.api.app import create_app
from warp.auth import sessions
from warp_auth_fixtures import PASSWORD, TEST_POLICY, World

PREFIXES = ("/v1/vendors", "/v1/vendor-incidents", "/v1/providers", "/v1/carriers", "/v1/compliance")
EXAMPLES_PER_OPERATION = 8


def test_no_generated_staff_request_gets_a_server_error(world: World) -> None:
    world.user(None, "ops@warp.example", role="staff_admin")
    with psycopg.connect(world.url, autocommit=True) as conn:
        token = sessions.login(conn, email="ops@warp.example", password=PASSWORD, policy=TEST_POLICY).token
    auth = {"Authorization": f"Bearer {token}"}
    app = create_app(world.url, policy=TEST_POLICY, pool_size=4, request_log=False)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures: list[str] = []
    statuses: Counter[int] = Counter()
    operations = 0
    with asgi.get_client(app) as client:
        for result in schema.get_all_operations():
            operation = result.ok()
            if not operation.path.startswith(PREFIXES):
                continue
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
                        f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:300]}"
                    )

            check()
    assert operations == 19
    assert failures == []
    assert statuses[200] > 0 and statuses[422] > 0 and statuses[404] > 0, statuses
