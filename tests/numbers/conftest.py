from numbers_fixtures import accounts, inventory  # noqa: F401
