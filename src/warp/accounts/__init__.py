"""Customer accounts: the tenants, their hierarchy, contacts and feature flags."""
