"""Call detail records: ingest, enrichment, rating, summaries and reconciliation."""
