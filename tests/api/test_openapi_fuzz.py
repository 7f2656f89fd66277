"""Schemathesis against /openapi.json, authenticated: no input makes the API answer 5xx.

Every operation of the schema gets generated requests (valid and invalid bodies, paths,
query strings), sent with a valid bearer token to the real app on a migrated database
(SQLite, and PostgreSQL, whose text refuses characters SQLite takes), with a Prefect API
and the render deployment registered (so exports are started for real; no runner executes
them). The rate limit is raised for the run.
"""

from __future__ import annotations

from collections import Counter

import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.support.api import ADA, SECRET, Api

EXAMPLES_PER_OPERATION = 25


async def test_no_request_makes_the_api_fail_with_a_server_error(api, configure, prefect_api):
    from flows.script_to_video import script_to_video

    configure(DATABASE_URL=api.database_url, JWT_SECRET=SECRET,
              RATE_LIMIT_PER_MINUTE="1000000")
    await (await script_to_video.ato_deployment(name="render")).aapply()
    schema = schemathesis.openapi.from_asgi("/openapi.json", api.app())
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10
    statuses: Counter[int] = Counter()
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def no_server_error(case) -> None:  # noqa: ANN001
            response = case.call(headers=Api.bearer(ADA))
            statuses[response.status_code] += 1
            assert response.status_code < 500, (case.as_curl_command(), response.text[:500])

        no_server_error()
    # Valid requests got through (the token works), and invalid ones were refused.
    assert statuses[200] + statuses[201] + statuses[202] > 0, statuses
    assert statuses[422] > 0, statuses
