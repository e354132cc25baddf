"""Reporting: materialized views, their refresh, and where reporting reads go (replica or primary)."""
