"""App Home starts with the reader: their own open items (overdue flagged, soonest due
first), then their open retros. Admins then see the Jira card, with Disconnect apart from
Settings and the webhook's expiry in each reader's time zone; an admin of a workspace not
yet set up sees a checklist first; members see what Unpack does."""

from __future__ import annotations

from datetime import date, timedelta

from bot.views import jira_ids
from tests.flows_jira import choose_default_project, connect_with_token
from tests.flows_retro import add_item, insert_items, start_retro
from tests.test_retro_home import item_sections, open_home


def headers(home) -> list[str]:
    return [b["text"]["text"] for b in home["blocks"] if b["type"] == "header"]


def index_of(home, text: str) -> int:
    return next(i for i, b in enumerate(home["blocks"]) if text in str(b))


def test_a_member_sees_their_items_soonest_first_then_retros_then_what_unpack_does(
    slack, slack_emulator, team, db
):
    start_retro(slack, slack_emulator, team, "Sprint 42")
    later = add_item(slack, slack_emulator, team, "Later", assignee=team.member,
                     due=date.today() + timedelta(days=9))  # fmt: skip
    soon = add_item(slack, slack_emulator, team, "Soon", assignee=team.member,
                    due=date.today() + timedelta(days=1))  # fmt: skip
    undated = add_item(slack, slack_emulator, team, "Whenever", assignee=team.member)
    insert_items(db, team, 1, title=lambda n: "Overdue")
    db.execute(
        "UPDATE action_items SET due_date = :d WHERE title = 'Overdue'",
        d=date.today() - timedelta(days=5),
    )
    overdue = db.scalar("SELECT id FROM action_items WHERE title = 'Overdue'")

    home = open_home(slack, slack_emulator, team, team.member)
    assert headers(home) == ["Unpack", "Your action items", "Your retros"]
    assert list(item_sections(home)) == [overdue, soon, later, undated]
    assert "overdue" in item_sections(home)[overdue]["text"]["text"]
    assert "4 action items, 4 yours" in str(home["blocks"][index_of(home, "Your retros") + 1])
    assert "Unpack runs your team's retros" in str(home["blocks"][-1])
    assert "Jira" not in headers(home) and "Set up Unpack" not in str(home)


def test_an_admin_sees_their_items_then_retros_then_the_jira_card(
    slack, slack_emulator, team, site
):
    connect_with_token(slack, slack_emulator, team, site)
    choose_default_project(slack, slack_emulator, team, project_key="TEAM", issue_type="Task")
    start_retro(slack, slack_emulator, team, "Sprint 42", user=team.admin)
    mine = add_item(slack, slack_emulator, team, "Mine", assignee=team.admin)

    home = open_home(slack, slack_emulator, team, team.admin)
    assert headers(home) == ["Unpack", "Your action items", "Your retros", "Jira"]
    assert list(item_sections(home)) == [mine]
    assert "Set up Unpack" not in str(home) and "No failed syncs" not in str(home)
    buttons = [
        [e.get("action_id") for e in b["elements"]]
        for b in home["blocks"]
        if b["type"] == "actions"
    ]
    settings = next(row for row in buttons if jira_ids.OPEN_SETTINGS in row)
    assert jira_ids.DISCONNECT not in settings  # Disconnect is not beside Settings
    assert [jira_ids.DISCONNECT] in buttons
    assert "UTC" not in str(home["blocks"])


def test_an_admin_of_a_workspace_not_set_up_sees_the_checklist_first(slack, slack_emulator, team):
    home = open_home(slack, slack_emulator, team, team.admin)
    assert headers(home)[:3] == ["Unpack", "Set up Unpack", "Your action items"]
    checklist = str(home["blocks"][2]["text"]["text"])
    assert checklist.count("⬜") == 3
    assert "Connect Jira" in checklist and "Choose a project" in checklist
    assert "Start a retro" in checklist
    assert home["blocks"][3]["block_id"] == jira_ids.SETUP_BUTTONS_BLOCK
    assert jira_ids.CONNECT_TOKEN in str(home["blocks"][3])  # the next step's button
    assert "Jira" not in headers(home)  # no empty card
