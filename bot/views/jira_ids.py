"""Block, action and callback ids of the Jira connection surfaces (one place, never literals
scattered between a view and its listener)."""

# ruff: noqa: S105 (ids named "token" or "secret" name form fields, they hold no secret)

# Buttons in replies and App Home.
AUTHORIZE_LINK = "jira_authorize_link"  # a URL button; Slack still sends an action to ack
CONNECT_OAUTH = "jira_connect_oauth"
CONNECT_TOKEN = "jira_connect_token"
OPEN_SETTINGS = "jira_open_settings"
DISCONNECT = "jira_disconnect"
DISCONNECT_BLOCK = "jira_disconnect"  # App Home: Disconnect apart from the everyday buttons
CANCEL = "jira_cancel"
SETUP_BUTTONS_BLOCK = "setup_buttons"  # App Home's set-up checklist

# API-token modal.
TOKEN_MODAL = "jira_token_modal"
SITE_BLOCK = "site_url"
SITE_INPUT = "site_url_input"
EMAIL_BLOCK = "email"
EMAIL_INPUT = "email_input"
TOKEN_BLOCK = "api_token"
TOKEN_INPUT = "api_token_input"

# Authorize modal (OAuth started from App Home, where there is no reply to put a link in).
AUTHORIZE_MODAL = "jira_authorize_modal"

# Settings modal.
SETTINGS_MODAL = "jira_settings_modal"
PROJECT_BLOCK = "project"
PROJECT_SELECT = "jira_settings_project"
# The issue-type block id carries the project id: Slack then drops a stale choice when the
# project changes (Slack keeps a choice only while its block id stays the same).
ISSUE_TYPE_BLOCK_PREFIX = "issue_type:"
ISSUE_TYPE_SELECT = "jira_settings_issue_type"
SCOPE_BLOCK = "scope"
SCOPE_INPUT = "scope_choice"
SCOPE_WORKSPACE = "workspace"
SCOPE_CHANNEL = "channel"
SCOPE_REMOVE = "remove_override"
OPTIONS_BLOCK = "options"
OPTIONS_INPUT = "options_choice"
OPTION_WEBHOOKS = "webhooks"
OPTION_EPIC = "epic_per_retro"
SYNC_DIRECTION_BLOCK = "sync_direction"
SYNC_DIRECTION_INPUT = "sync_direction_choice"  # values: storage.models.SyncDirection
WEBHOOK_SECRET_BLOCK = "webhook_secret"
WEBHOOK_SECRET_INPUT = "webhook_secret_input"
SETTINGS_SAVED_MODAL = "jira_settings_saved"


def issue_type_block(project_id: str | None) -> str:
    return ISSUE_TYPE_BLOCK_PREFIX + (project_id or "none")
