"""Every wait that happens before an ack, added up per path, leaves room under Slack's
3 seconds (the budgets live in bot/ack_budget.py)."""

from __future__ import annotations

from bot import ack_budget

# Our own database work before the ack (a few small queries) needs some of the 3 seconds.
ROOM_FOR_OUR_WORK = 0.2


def test_each_path_before_an_ack_sums_under_the_deadline():
    assert ack_budget.PATHS
    for path, total in ack_budget.PATHS:
        assert total <= ack_budget.SLACK_ACK_DEADLINE - ROOM_FOR_OUR_WORK, path
