"""Authentication and authorization: users, sessions, API keys, RBAC, rate limits."""
