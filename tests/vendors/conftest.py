from warp_auth_fixtures import client, seeded_url, world  # noqa: F401
