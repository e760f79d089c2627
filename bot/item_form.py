"""An action item as a person fills it in, and the one validation every way of making or
editing one shares (/retro add, the Add button, a line's Edit, the Sync to Jira shortcut), so
they all refuse exactly the same input with the same words.

Errors are keyed by the form's fields (FIELD_*); the modal places them on its inputs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from storage.clock import utcnow

TITLE_MAX = 255
DESCRIPTION_MAX = 3000  # what Slack's text input holds

FIELD_TITLE = "title"
FIELD_DESCRIPTION = "description"
FIELD_DUE_DATE = "due_date"


@dataclass(frozen=True)
class ItemForm:
    """What a person typed in the modal (or what a message prefilled)."""

    title: str = ""
    description: str = ""
    assignee_user_id: str | None = None
    due_date: date | None = None


def validate_item_form(form: ItemForm, today: date) -> dict[str, str]:
    """Errors keyed by field; empty when the form is fine."""
    errors: dict[str, str] = {}
    if not form.title:
        errors[FIELD_TITLE] = "Give the action item a title."
    elif len(form.title) > TITLE_MAX:
        errors[FIELD_TITLE] = (
            f"Keep the title to {TITLE_MAX} characters (it has {len(form.title)})."
        )
    if len(form.description) > DESCRIPTION_MAX:
        errors[FIELD_DESCRIPTION] = f"Keep the description to {DESCRIPTION_MAX} characters."
    if form.due_date is not None and form.due_date < today:
        errors[FIELD_DUE_DATE] = "The due date can't be in the past. Pick today or a later day."
    return errors


def today_in(tz_name: str | None, now: datetime | None = None) -> date:
    """Today's date where the person is (Slack's datepicker shows their local calendar)."""
    now = now or utcnow()
    try:
        return now.astimezone(ZoneInfo(tz_name)).date() if tz_name else now.date()
    except (ZoneInfoNotFoundError, ValueError):
        return now.date()
