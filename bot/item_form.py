"""An action item as a person fills it in, and the one validation every way of making or
editing one shares (/retro add, the Add button, a line's Edit, the Sync to Jira shortcut), so
they all refuse exactly the same input with the same words.

Errors are keyed by the form's fields (FIELD_*); the modal places them on its inputs.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from storage.clock import utcnow

TITLE_MAX = 255
DESCRIPTION_MAX = 3000  # what Slack's text input holds

# Characters nobody types: NUL (PostgreSQL refuses it in text), the other control
# characters (shown as boxes, or breaking a line where none may be) and lone surrogates (no
# UTF-8 can carry them, so storing or sending them fails). A forged or pasted payload can
# hold any of them.
_UNTYPABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
_LINE_BREAKS = re.compile("\r\n?|\n|\t")

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


def clean_text(value: object, *, lines: bool = False) -> str:
    """User text as it can be stored and shown: untypable characters dropped, and line
    breaks kept only where `lines` (a description), else made spaces (a title)."""
    if not isinstance(value, str):
        return ""
    if lines:
        text = value.replace("\r\n", "\n").replace("\r", "\n")
    else:
        text = _LINE_BREAKS.sub(" ", value)
    return _UNTYPABLE.sub("", text)


def visible(text: str) -> bool:
    """Whether anything in `text` shows: not only spaces and invisible characters (a
    zero-width space, a joiner, a direction mark)."""
    return any(unicodedata.category(c)[0] not in "CZ" for c in text)


def validate_item_form(form: ItemForm, today: date) -> dict[str, str]:
    """Errors keyed by field; empty when the form is fine."""
    errors: dict[str, str] = {}
    if not visible(form.title):
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
