from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from warp_auth_fixtures import client, seeded_url, world  # noqa: F401


@pytest.fixture
def conn(seeded_url: str) -> Iterator[psycopg.Connection[Any]]:  # noqa: F811
    """Autocommit superuser connection to a fresh database with the reference data (tax rates)."""
    with psycopg.connect(seeded_url, autocommit=True) as c:
        yield c
