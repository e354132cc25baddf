"""Database access: the embedded cluster, connections, migrations and seeds."""
