"""Slack's 3-second ack deadline, shared out: every wait that happens before an ack.

Slack shows the person an error when a command, click, options request or modal
submission is not answered with HTTP 200 within 3 seconds, and a trigger_id is only good
for 3 seconds too. Most listeners ack first and work afterwards; these are the waits that
cannot (the answer depends on them), each bounded so that every path below, added up,
stays under the deadline with room left for our own database work:

    admin command or modal (guard)        ADMIN_LOOKUP                              1.0 s
    a member's click refused              ADMIN_LOOKUP + REFUSAL_NOTICE             2.0 s
    API-token modal submitted             ADMIN_LOOKUP + TOKEN_CHECK
                                            + OLD_SITE_CLEANUP                      2.7 s
    settings modal submitted              ADMIN_LOOKUP + SETTINGS_CHECK             2.5 s
    project / issue-type menu typed in    OPTIONS_LOOKUP                            2.5 s
    action-item modal opened              TIMEZONE_LOOKUP (then views.open)         1.0 s
    settings modal opened                 ADMIN_LOOKUP + REQUIRED_FIELDS_LOOKUP     2.2 s
    the database does not answer          2 x WORKSPACE_LOOKUP (then "try again")   2.0 s

`PATHS` spells the same sums out so a test can hold them under `SLACK_ACK_DEADLINE`.
"""

from __future__ import annotations

SLACK_ACK_DEADLINE = 3.0

ADMIN_LOOKUP = 1.0  # users.info for the caller's role (cached a few minutes per person)
REFUSAL_NOTICE = 1.0  # the "only admins" note next to a button a member clicked
TOKEN_CHECK = 1.4  # GET /myself with the pasted email and API token
OLD_SITE_CLEANUP = 0.3  # deleting the old site's webhooks when the token names a new site
SETTINGS_CHECK = 1.5  # Jira confirms the chosen project and issue type exist
OPTIONS_LOOKUP = 2.5  # Jira's project / issue-type search behind an external select
TIMEZONE_LOOKUP = 1.0  # users.info for the person's time zone (due-date default)
REQUIRED_FIELDS_LOOKUP = 1.2  # createmeta for the saved issue type, as the settings open
# Each of the two reads of the request's workspace (its bot token, then its id) before any
# listener runs: milliseconds normally; a database that has not answered by then will not
# answer in time, so the person is told to try again instead of getting Slack's timeout.
WORKSPACE_LOOKUP = 1.0

PATHS = (
    ("admin command or modal", ADMIN_LOOKUP),
    ("a member's click refused", ADMIN_LOOKUP + REFUSAL_NOTICE),
    ("API-token modal submitted", ADMIN_LOOKUP + TOKEN_CHECK + OLD_SITE_CLEANUP),
    ("settings modal submitted", ADMIN_LOOKUP + SETTINGS_CHECK),
    ("project / issue-type menu typed in", OPTIONS_LOOKUP),
    ("action-item modal opened", TIMEZONE_LOOKUP),
    ("settings modal opened", ADMIN_LOOKUP + REQUIRED_FIELDS_LOOKUP),
    ("the database does not answer", 2 * WORKSPACE_LOOKUP),
)
