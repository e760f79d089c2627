"""Slack listeners, one module per surface; each has register(app). Listeners stay thin:
read the payload, ack(), call one function in bot/, render with bot/views."""

from slack_bolt.app.async_app import AsyncApp

from commands import (
    actions,
    home,
    item_controls,
    jira,
    jira_settings,
    lifecycle,
    retro,
    shortcuts,
    sync,
)


def register_all(app: AsyncApp) -> None:
    retro.register(app)
    actions.register(app)
    item_controls.register(app)
    jira.register(app)
    jira_settings.register(app)
    home.register(app)
    sync.register(app)
    shortcuts.register(app)
    lifecycle.register(app)
