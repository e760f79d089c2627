"""Talking to Jira Cloud: the client and its typed errors, OAuth, ADF, webhooks."""
