from ops_fixtures import pgbouncer, replica  # noqa: F401
from warp_auth_fixtures import client, seeded_url, world  # noqa: F401
