"""The sync engine: the database is the queue (docs/sync-protocol.md)."""
