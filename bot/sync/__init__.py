"""The sync engine: the database is the queue (DESIGN.md)."""
