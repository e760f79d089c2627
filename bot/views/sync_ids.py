"""Action, block and callback ids of the sync surfaces: Retry buttons, /jira log, the Sync
Log in App Home and the Sync to Jira shortcut. Listeners and views read them from here."""

from __future__ import annotations

from bot.views import retro_ids

# Every Retry button, wherever it shows (item lines, /jira log, App Home); value: item id.
RETRY_ITEM = retro_ids.RETRY_ITEM
# On the line of an item whose issue was deleted in Jira; value: item id.
CREATE_AGAIN = retro_ids.CREATE_AGAIN

# The message shortcut (manifest.yml callback_id) and its modal.
SYNC_TO_JIRA = "sync_to_jira"
SYNC_ITEM_MODAL = "sync_to_jira_item"

# Block ids carry the item id so that each failure's block is unique in a view.
LOG_FAILURE_PREFIX = "sync_log_failure:"
HOME_FAILURE_PREFIX = "home_sync_failure:"
