"""Compliance: STIR/SHAKEN certificate expiry, security incidents, retention, the compliance report."""
