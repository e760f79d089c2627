"""The parts of App Home that explain Unpack: the set-up checklist an admin sees until the
workspace is set up, and what Unpack does, for members."""

from __future__ import annotations

from bot.views import jira_ids
from bot.views.blocks import actions, button, context, divider, header, section
from storage.setup_queries import SetupSteps

DONE, TODO = "✅", "⬜"
ABOUT = (
    "Unpack runs your team's retros in Slack and turns their action items into Jira issues, "
    "so nothing agreed in a retro gets lost. Start one in a team's channel with "
    "`/retro start`; `/retro help` lists the rest."
)


def setup_checklist(steps: SetupSteps, *, oauth_enabled: bool) -> list[dict]:
    """Three steps, each ticked once done, with the button that does the next one."""

    def step(done: bool, text: str) -> str:
        return f"{DONE if done else TODO} {text}"

    token = button("Connect with an API token", jira_ids.CONNECT_TOKEN)
    connect = (
        [button("Connect with Atlassian", jira_ids.CONNECT_OAUTH, style="primary"), token]
        if oauth_enabled
        else [{**token, "style": "primary"}]
    )
    lines = [
        step(steps.jira_connected, "*Connect Jira*: the site where action items become issues"),
        step(steps.project_chosen, "*Choose a project* (and issue type) for action items"),
        step(steps.retro_started, "*Start a retro*: `/retro start` in a team's channel"),
    ]
    blocks = [header("Set up Unpack"), section("\n".join(lines))]
    if not steps.jira_connected:
        blocks.append(actions(*connect, block_id=jira_ids.SETUP_BUTTONS_BLOCK))
    elif not steps.project_chosen:
        blocks.append(
            actions(
                button("Choose a project", jira_ids.OPEN_SETTINGS, style="primary"),
                block_id=jira_ids.SETUP_BUTTONS_BLOCK,
            )
        )
    return [*blocks, divider()]


def about_unpack() -> list[dict]:
    return [divider(), context(ABOUT)]
