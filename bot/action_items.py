"""Action-item rules: open the modal to add or edit, save a submission, confirm it.

The modal's private_metadata carries ids ({"retro", "item", "channel", "tz", "from"}) and,
for an edit, a fingerprint of each field as the modal showed it ("seen"): a field the
person left alone keeps the item's value, so a change pulled from Jira while the modal was
open is not undone by the submission;
every id read back is checked against the asking workspace, so another workspace's item id
in a payload is refused like an unknown one.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass, field

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot import ack_budget, messages, notifier
from bot.home import publish_home
from bot.item_form import (
    FIELD_DUE_DATE,
    FIELD_TITLE,
    ItemForm,
    clean_text,
    today_in,
    validate_item_form,
)
from bot.modals import open_modal
from bot.retros import NO_OPEN_RETRO, reply
from bot.runtime import Runtime
from bot.sync import merge
from bot.sync.queue import enqueue
from bot.sync.update import same_site
from bot.views import retro_ids as ids
from bot.views.blocks import escape
from bot.views.item_modal import (
    build_item_modal,
    notice_modal,
    read_item_form,
    read_metadata,
    shown_in_modal,
)
from bot.views.retro_items import issue_link
from storage.clock import utcnow
from storage.connection_queries import connection_for
from storage.item_queries import item_by_id
from storage.models import ActionItem, Retro, RetroPhase, SyncState
from storage.retro_queries import open_retro, retro_by_id

logger = logging.getLogger(__name__)

RETRO_CLOSED = "{title} is closed, so it takes no new action items. Start a new retro first."


def new_item(
    workspace_id: int, retro: Retro | None, channel_id: str, user_id: str, form: ItemForm
) -> ActionItem:
    """A new, local (not yet queued) item; the caller adds it to its session. Its unique
    Jira label (sync_label) comes from the model's default."""
    return ActionItem(
        workspace_id=workspace_id,
        retro_id=retro.id if retro else None,
        channel_id=retro.channel_id if retro else channel_id,
        title=form.title,
        description=form.description or None,
        assignee_user_id=form.assignee_user_id,
        due_date=form.due_date,
        created_by_user_id=user_id,
        sync_state=SyncState.LOCAL,
    )


def apply_edit(item: ActionItem, form: ItemForm) -> bool:
    """Change the item to match the form; True when something changed.

    Every change bumps `revision`. An item already in Jira is queued again: pending and
    due now, so the sync engine pushes it on its next pass (at the latest the next
    periodic cycle) without being woken here. Attempts restart because this is
    new work. An item still waiting for its create keeps its place in the queue; the
    create sends the newest fields.
    """
    new = (form.title, form.description or None, form.assignee_user_id, form.due_date)
    old = (item.title, item.description, item.assignee_user_id, item.due_date)
    if new == old:
        return False
    _stamp_edits(item, old, new)
    item.title, item.description, item.assignee_user_id, item.due_date = new
    item.revision += 1
    if item.jira_key:
        enqueue([item])
    return True


def _form_of(item: ActionItem) -> ItemForm:
    return ItemForm(item.title, item.description or "", item.assignee_user_id, item.due_date)


def _fingerprint(value) -> str:
    return hashlib.sha256(repr(value or None).encode()).hexdigest()[:12]


def fingerprints(form: ItemForm) -> dict[str, str]:
    """Each field as the modal shows it, short (private_metadata holds 3000 characters)."""
    return {name: _fingerprint(getattr(form, name)) for name in _FORM_FIELDS}


def touched_only(submitted: ItemForm, now: ItemForm, seen: dict) -> ItemForm:
    """The submission, with every field the person left as shown replaced by the item's
    value now (it may have come from Jira meanwhile)."""
    values = {
        name: getattr(now if seen.get(name) == _fingerprint(getattr(submitted, name)) else
                      submitted, name)
        for name in _FORM_FIELDS
    }  # fmt: skip
    return ItemForm(**values)


_FORM_FIELDS = ("title", "description", "assignee_user_id", "due_date")


def _stamp_edits(item: ActionItem, old: tuple, new: tuple) -> None:
    """When each field was edited in Slack: a conflict with a Jira edit goes to the later."""
    now = utcnow().isoformat()
    edited = dict(item.slack_edited or {})
    for name, before, after in zip(merge.FIELDS, old, new, strict=True):
        if before != after:
            edited[name] = now
    item.slack_edited = edited


async def user_tz(client: AsyncWebClient, user_id: str) -> str | None:
    """The person's time zone, so "not before today" means their today."""
    try:
        response = await asyncio.wait_for(
            client.users_info(user=user_id), ack_budget.TIMEZONE_LOOKUP
        )
    except (SlackApiError, TimeoutError):
        return None
    return (response.get("user") or {}).get("tz")


# -- opening the modal -----------------------------------------------------------------------


async def open_add_modal(
    runtime: Runtime,
    client: AsyncWebClient,
    workspace_id: int,
    user_id: str,
    trigger_id: str,
    *,
    source: str,
    channel_id: str | None = None,
    retro_id: int | None = None,
    title: str = "",
) -> dict | None:
    """Open the modal for a new item in the retro (by id, or the channel's open one).
    Returns a reply to show instead when there is no open retro to add to."""
    async with runtime.sessions() as session:
        if retro_id is not None:
            retro = await retro_by_id(session, workspace_id, retro_id)
        else:
            retro = await open_retro(session, workspace_id, channel_id or "")
    if retro is None:
        return await _refuse(client, trigger_id, source, NO_OPEN_RETRO)
    if retro.phase == RetroPhase.CLOSED:
        text = RETRO_CLOSED.format(title=f"*{escape(retro.title)}*")
        return await _refuse(client, trigger_id, source, text)
    metadata = {"retro": retro.id, "channel": retro.channel_id, "from": source}
    metadata["tz"] = await user_tz(client, user_id)
    view = build_item_modal(
        metadata,
        ItemForm(title=" ".join(clean_text(title).split())),
        intro=f"For *{escape(retro.title)}* in <#{retro.channel_id}>",
    )
    return await _open(client, trigger_id, view, source)


async def open_edit_modal(
    runtime: Runtime,
    client: AsyncWebClient,
    workspace_id: int,
    user_id: str,
    trigger_id: str,
    item_id: int | None,
    *,
    source: str,
    list_url: str | None = None,
) -> dict | None:
    """Open the modal filled in with the item; refuse ids outside this workspace.
    `list_url`: the response_url of the /retro list message Edit was used on, kept in the
    modal so that saving redraws that list (nothing else can: it is ephemeral)."""
    async with runtime.sessions() as session:
        item = await item_by_id(session, workspace_id, item_id)
        retro = (
            await retro_by_id(session, workspace_id, item.retro_id)
            if item and item.retro_id
            else None
        )
        connection = await connection_for(session, workspace_id) if item else None
    if item is None:
        return await _refuse(client, trigger_id, source, messages.ITEM_GONE)
    metadata = {"item": item.id, "retro": item.retro_id, "channel": item.channel_id}
    metadata.update({"from": source, "tz": await user_tz(client, user_id)})
    # As shown: a description pulled from Jira past the input's limit is shown clipped, and
    # saving the modal unchanged must not cut Jira's down to it.
    metadata["seen"] = fingerprints(shown_in_modal(_form_of(item)))
    if list_url:
        metadata["list"] = list_url
    where = f"*{escape(retro.title)}* in " if retro else ""
    view = build_item_modal(
        metadata,
        _form_of(item),
        heading="Edit action item",
        submit="Save",
        intro=f"In {where}<#{item.channel_id}>",
        note=_edit_note(item, runtime.settings.sync_interval_seconds, connection),
    )
    return await _open(client, trigger_id, view, source)


def _elsewhere(item: ActionItem, connection) -> bool:
    """The item's issue is on another site than the one connected now (Jira connected
    again elsewhere): the sync engine sends it nothing, as Sync to Jira says."""
    return connection is not None and not same_site(item, connection.site_url)


def _edit_note(item: ActionItem, interval: float, connection) -> str | None:
    link = issue_link(item)
    if not link:
        return None
    if _elsewhere(item, connection):
        return f"Linked to {link}, on a site that is no longer connected: changes stay in Slack."
    minutes = max(1, round(interval / 60))
    when = "a minute" if minutes == 1 else f"{minutes} minutes"
    return f"Linked to {link}. Saved changes reach Jira within {when}."


async def _open(client, trigger_id: str, view: dict, source: str) -> dict | None:
    # From View all, on top of it, so closing returns to the list.
    if await open_modal(client, trigger_id, view, on_top=source == ids.FROM_MODAL):
        return None
    if source in (ids.FROM_HOME, ids.FROM_MODAL):
        return None
    return reply(messages.modal_not_opened("form"))


async def _refuse(client, trigger_id: str, source: str, text: str) -> dict | None:
    """Say no where the person is: a message reply, or a small modal on App Home (which
    has no response_url)."""
    if source not in (ids.FROM_HOME, ids.FROM_MODAL):
        return reply(text)
    notice = notice_modal("Action item", text)
    await open_modal(client, trigger_id, notice, on_top=source == ids.FROM_MODAL)
    return None


# -- saving a submission -------------------------------------------------------------------


@dataclass
class SavedItem:
    """What a submission did: inline errors, or the saved item's ids and what changed."""

    errors: dict[str, str] = field(default_factory=dict)
    item_id: int | None = None
    retro_id: int | None = None
    channel_id: str | None = None
    title: str = ""
    retro_title: str | None = None
    created: bool = False
    changed: bool = False
    jira_key: str | None = None
    retro_committed: bool = False
    source: str = ids.FROM_COMMAND
    # Why the change goes nowhere in Jira (its issue's site is not the one connected).
    not_sent: str | None = None


async def save_item(runtime: Runtime, workspace_id: int, user_id: str, view: dict) -> SavedItem:
    """Validate and store a submitted item modal (fast: runs before the ack)."""
    metadata = read_metadata(view)
    form = read_item_form((view.get("state") or {}).get("values") or {})
    errors = validate_item_form(form, today_in(metadata.get("tz")))
    seen = metadata.get("seen") if isinstance(metadata.get("seen"), dict) else {}
    if FIELD_DUE_DATE in errors and seen.get("due_date") == _fingerprint(form.due_date):
        # A past due date left as the edit showed it (an overdue item, or a date set in
        # Jira): changing another field must not force a new date on Jira too.
        del errors[FIELD_DUE_DATE]
    if errors:
        return SavedItem(errors=errors)
    source = str(metadata.get("from") or ids.FROM_COMMAND)
    item_id, retro_id = ids.parse_id(metadata.get("item")), ids.parse_id(metadata.get("retro"))
    async with runtime.sessions.begin() as session:
        if metadata.get("item") is not None:
            return await _save_edit(session, workspace_id, item_id, form, source, seen)
        return await _save_new(session, workspace_id, retro_id, user_id, form, source)


async def _save_edit(session, workspace_id, item_id, form, source, seen) -> SavedItem:
    # Locked: the edit's revision is the one read plus one.
    item = await item_by_id(session, workspace_id, item_id, to_change=True)
    if item is None:
        return SavedItem(errors={FIELD_TITLE: messages.ITEM_GONE})
    changed = apply_edit(item, touched_only(form, _form_of(item), seen))
    retro = await retro_by_id(session, workspace_id, item.retro_id) if item.retro_id else None
    saved = _saved(item, retro, created=False, changed=changed, source=source)
    if changed and item.jira_issue_id:
        connection = await connection_for(session, workspace_id)
        if _elsewhere(item, connection):
            # The sync engine leaves it alone (another site's issue may share its id).
            saved.not_sent = messages.on_other_site(
                item.jira_key or "Its issue", item.jira_site_url
            )
    return saved


async def _save_new(session, workspace_id, retro_id, user_id, form, source) -> SavedItem:
    retro = await retro_by_id(session, workspace_id, retro_id) if retro_id else None
    if retro is None:
        return SavedItem(errors={FIELD_TITLE: NO_OPEN_RETRO})
    if retro.phase == RetroPhase.CLOSED:
        return SavedItem(errors={FIELD_TITLE: RETRO_CLOSED.format(title=retro.title)})
    item = new_item(workspace_id, retro, retro.channel_id, user_id, form)
    session.add(item)
    await session.flush()
    return _saved(item, retro, created=True, changed=True, source=source)


def _saved(item: ActionItem, retro: Retro | None, *, created, changed, source) -> SavedItem:
    return SavedItem(
        item_id=item.id,
        retro_id=item.retro_id,
        channel_id=item.channel_id,
        title=item.title,
        retro_title=retro.title if retro else None,
        created=created,
        changed=changed,
        jira_key=item.jira_key,
        retro_committed=bool(retro and retro.phase == RetroPhase.COMMIT),
        source=source,
    )


async def confirm_saved(
    runtime: Runtime,
    client: AsyncWebClient,
    workspace_id: int,
    team_id: str,
    user_id: str,
    saved: SavedItem,
) -> None:
    """After the ack: refresh the surfaces that show the item and tell the person."""
    if saved.changed and saved.item_id is not None:
        await notifier.refresh_items(runtime, workspace_id, [saved.item_id])
    if saved.source == ids.FROM_HOME:
        # The Home tab is where they are: showing the change there is the confirmation.
        await publish_home(runtime, client, workspace_id, team_id, user_id)
        return
    try:
        await client.chat_postEphemeral(
            channel=saved.channel_id, user=user_id, text=confirmation_text(saved)
        )
    except SlackApiError as exc:
        logger.info("confirmation not shown: %s", exc.response.get("error"))


def confirmation_text(saved: SavedItem) -> str:
    title = f"*{escape(saved.title)}*"
    retro = f"*{escape(saved.retro_title)}*" if saved.retro_title else "the retro"
    if saved.created:
        text = f"Added {title} to {retro}."
        if saved.retro_committed:
            text += " The retro is already committed: run `/retro commit` again to send it to Jira."
        return text
    if not saved.changed:
        return f"No changes to {title}."
    if saved.not_sent:
        return f"Saved {title}. {saved.not_sent}"
    if saved.jira_key:
        return f"Saved {title}. {saved.jira_key} in Jira gets the change on the next sync."
    return f"Saved {title}."
