"""The REST API (FastAPI): one router per domain, problem+json errors."""
