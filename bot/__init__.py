"""Unpack for Slack: everything that is not a Slack listener or a table."""
