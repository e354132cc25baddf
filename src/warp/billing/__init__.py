"""Billing: rate plans, balances and the ledger, usage, invoices, taxes, payments."""
