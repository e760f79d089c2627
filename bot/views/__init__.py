"""Block Kit builders: plain functions from data to dicts, no I/O."""
