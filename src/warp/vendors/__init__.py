"""Vendor management: provider plugins and their failover, carrier performance metrics and SLAs."""
