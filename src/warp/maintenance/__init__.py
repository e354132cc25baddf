"""Routine database maintenance (``warp maintenance run``)."""
