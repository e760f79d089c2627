"""Counts read as a person says them on the surfaces people see: "1 action item",
"2 action items", "Created 1 issue", "Created 2 issues", "0 action items", never
"1 issues" or "2 issue"."""

from __future__ import annotations

from bot.views import retro_ids as ids
from tests.flows_jira import choose_default_project, connect_with_token
from tests.flows_retro import add_item, commit, start_retro, summary_message


def send_button(message) -> dict:
    return next(
        e
        for b in message.blocks
        if b.get("block_id") == ids.BUTTONS_BLOCK
        for e in b["elements"]
        if e.get("action_id") == ids.COMMIT
    )


def card_sending(slack_emulator, team, count: int):
    """The card once its Send button counts `count` waiting items."""

    def find():
        card = summary_message(slack_emulator, team)
        found = [
            e
            for b in card.blocks
            if b.get("block_id") == ids.BUTTONS_BLOCK
            for e in b["elements"]
            if e.get("action_id") == ids.COMMIT and e["text"]["text"] == f"Send {count} to Jira"
        ]
        return found and card

    return slack_emulator.wait_for(find, message=f"the card to offer Send {count} to Jira")


def created_notice(slack_emulator, team, card, words: str) -> str:
    def find():
        thread = slack_emulator.thread(team.channel, card.ts, team_id=team.team_id)
        return next((m.text for m in thread if f"Created {words} in Jira" in m.text), None)

    return slack_emulator.wait_for(find, message=f"the thread notice 'Created {words}'")


def test_counts_of_0_1_and_2_read_as_words_on_the_card_its_confirm_and_the_thread(
    slack, slack_emulator, team, site
):
    account = connect_with_token(slack, slack_emulator, team, site, display_name="Ana Lima")
    choose_default_project(slack, slack_emulator, team, project_key="TEAM", issue_type="Task")
    empty = start_retro(slack, slack_emulator, team, "Counting")
    assert empty.text == "Retro: Counting (collecting action items, 0 action items)"

    add_item(slack, slack_emulator, team, "One thing", assignee=team.member)
    card = card_sending(slack_emulator, team, 1)
    assert card.text == "Retro: Counting (collecting action items, 1 action item)"
    send = send_button(card)
    assert send["text"]["text"] == "Send 1 to Jira"
    assert send["confirm"]["confirm"]["text"] == "Send 1"
    assert send["confirm"]["text"]["text"] == (
        f"1 action item will become Task issues in TEAM, created by {account} "
        "(the connected Jira account)."
    )
    reply = commit(slack, slack_emulator, team)
    assert reply.startswith("Sending 1 action item from *Counting* to Jira."), reply
    notice = created_notice(slack_emulator, team, card, "1 issue")
    assert notice.startswith(f":white_check_mark: Created 1 issue in Jira as {account}: <")

    add_item(slack, slack_emulator, team, "Second thing", assignee=team.member)
    add_item(slack, slack_emulator, team, "Third thing", assignee=team.member)
    card = card_sending(slack_emulator, team, 2)
    send = send_button(card)
    assert send["text"]["text"] == "Send 2 to Jira"
    assert send["confirm"]["confirm"]["text"] == "Send 2"
    assert send["confirm"]["text"]["text"].startswith("2 action items will become Task issues")
    reply = commit(slack, slack_emulator, team)
    assert reply.startswith("Sending 2 more action items from *Counting* to Jira."), reply
    notice = created_notice(slack_emulator, team, card, "2 issues")
    assert notice.startswith(f":white_check_mark: Created 2 issues in Jira as {account}: <")
