"""Emulators of Slack and Jira Cloud for the tests. Test tools only: the app never imports them."""
