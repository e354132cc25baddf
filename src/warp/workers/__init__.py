"""Long-running, restart-safe worker loops."""
