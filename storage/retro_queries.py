"""Queries for retros: a channel's open retro, a retro of a workspace and its items, and the
open retros App Home shows a person. Every query is scoped by workspace."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import bindparam, case, func, literal, or_, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ActionItem, ItemStatus, Retro, RetroPhase


def _open():
    return Retro.phase != RetroPhase.CLOSED


async def open_retro(session: AsyncSession, workspace_id: int, channel_id: str) -> Retro | None:
    """The channel's open retro (there is at most one: a unique index keeps it so)."""
    return await session.scalar(
        select(Retro).where(
            Retro.workspace_id == workspace_id, Retro.channel_id == channel_id, _open()
        )
    )


async def open_retros_in_channels(
    session: AsyncSession, workspace_id: int, channel_ids: set[str]
) -> list[int]:
    """Ids of the open retros of these channels."""
    params = {"workspace_id": workspace_id, "channel_ids": sorted(channel_ids)}
    return list(await session.scalars(_OPEN_IN_CHANNELS, params))


# Built once (immutable, so no process state): a summary's refresh runs these in bursts,
# and building a statement cost more than running it.
_RETRO = select(Retro).where(
    Retro.workspace_id == bindparam("workspace_id"), Retro.id == bindparam("retro_id")
)
_ITEMS = (
    select(ActionItem)
    .where(
        ActionItem.workspace_id == bindparam("workspace_id"),
        ActionItem.retro_id == bindparam("retro_id"),
    )
    .order_by(ActionItem.id)
)
_OPEN_IN_CHANNELS = select(Retro.id).where(
    Retro.workspace_id == bindparam("workspace_id"),
    Retro.channel_id.in_(bindparam("channel_ids", expanding=True)),
    Retro.phase != RetroPhase.CLOSED,
)
_own_items = (ActionItem.retro_id == Retro.id) & (ActionItem.workspace_id == Retro.workspace_id)
_THREAD = (
    select(
        Retro.channel_id,
        Retro.summary_ts,
        func.count(ActionItem.id).label("items"),
        func.count(ActionItem.id).filter(ActionItem.status == ItemStatus.COMPLETE).label("done"),
    )
    .outerjoin(ActionItem, _own_items)
    .where(Retro.workspace_id == bindparam("workspace_id"), Retro.id == bindparam("retro_id"))
    .group_by(Retro.id, Retro.channel_id, Retro.summary_ts)
)


async def retro_by_id(session: AsyncSession, workspace_id: int, retro_id: int) -> Retro | None:
    """The retro, when it belongs to this workspace."""
    return await session.scalar(_RETRO, {"workspace_id": workspace_id, "retro_id": retro_id})


async def retro_thread(session: AsyncSession, workspace_id: int, retro_id: int) -> Row | None:
    """Where the retro's thread is and its tally: (channel_id, summary_ts, items, done),
    None when the retro is not this workspace's."""
    result = await session.execute(_THREAD, {"workspace_id": workspace_id, "retro_id": retro_id})
    return result.first()


async def mark_closed(
    session: AsyncSession, workspace_id: int, retro_id: int, at: datetime
) -> bool:
    """Closes the retro unless it is closed already; True for the caller that closed it.
    One conditional UPDATE: of two closes at once, one changes the row and says so, the
    other finds it closed (a read, then a write, would let both see it open)."""
    return await _update_if_open(
        session, workspace_id, retro_id, phase=RetroPhase.CLOSED, closed_at=at
    )


async def mark_committed(
    session: AsyncSession, workspace_id: int, retro_id: int, at: datetime, *, sending: bool
) -> bool:
    """Moves the retro to the Commit phase unless it was closed meanwhile; True when it
    did. One conditional UPDATE, as mark_closed: a commit that read the retro open just
    before a close landed would otherwise write it back to Commit. `sending`: items go to
    Jira with this commit (their owners are told once per commit, by commit_seq)."""
    first = literal(at, type_=Retro.committed_at.type)  # stored as the column stores times
    values: dict = {
        "phase": RetroPhase.COMMIT,
        "committed_at": func.coalesce(Retro.committed_at, first),
    }
    if sending:
        values["commit_seq"] = func.coalesce(Retro.commit_seq, 0) + 1
    return await _update_if_open(session, workspace_id, retro_id, **values)


async def _update_if_open(
    session: AsyncSession, workspace_id: int, retro_id: int, **values
) -> bool:
    """Writes `values` to the retro only while it is not closed; True when it did."""
    result = await session.execute(
        update(Retro)
        .where(Retro.workspace_id == workspace_id, Retro.id == retro_id, _open())
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


async def delete_retro(session: AsyncSession, workspace_id: int, retro_id: int) -> None:
    """Forgets a retro of this workspace (one whose summary could not be posted)."""
    retro = await retro_by_id(session, workspace_id, retro_id)
    if retro is not None:
        await session.delete(retro)


async def retro_title(session: AsyncSession, workspace_id: int, retro_id: int) -> str | None:
    return await session.scalar(
        select(Retro.title).where(Retro.workspace_id == workspace_id, Retro.id == retro_id)
    )


async def retro_items(session: AsyncSession, workspace_id: int, retro_id: int) -> list[ActionItem]:
    """The retro's items in the order they were added."""
    params = {"workspace_id": workspace_id, "retro_id": retro_id}
    return list(await session.scalars(_ITEMS, params))


async def open_retros_of(
    session: AsyncSession, workspace_id: int, user_id: str, limit: int
) -> list[Retro]:
    """Open retros the person facilitates or has items in (created or assigned), newest
    first."""
    involved = select(ActionItem.retro_id).where(
        ActionItem.workspace_id == workspace_id,
        or_(ActionItem.created_by_user_id == user_id, ActionItem.assignee_user_id == user_id),
    )
    rows = await session.scalars(
        select(Retro)
        .where(
            Retro.workspace_id == workspace_id,
            _open(),
            or_(Retro.facilitator_user_id == user_id, Retro.id.in_(involved)),
        )
        .order_by(Retro.created_at.desc(), Retro.id.desc())
        .limit(limit)
    )
    return list(rows)


async def item_counts(
    session: AsyncSession, workspace_id: int, retro_ids: list[int], user_id: str
) -> dict[int, tuple[int, int]]:
    """Per retro: how many items it has, and how many of them are assigned to the person."""
    mine = func.sum(case((ActionItem.assignee_user_id == user_id, 1), else_=0))
    rows = await session.execute(
        select(ActionItem.retro_id, func.count(ActionItem.id), mine)
        .where(ActionItem.workspace_id == workspace_id, ActionItem.retro_id.in_(retro_ids))
        .group_by(ActionItem.retro_id)
    )
    return {retro_id: (total, int(own or 0)) for retro_id, total, own in rows}


async def retros_by_ids(
    session: AsyncSession, workspace_id: int, retro_ids: Iterable[int]
) -> dict[int, Retro]:
    """Those of these retros that belong to this workspace, by id."""
    rows = await session.scalars(
        select(Retro).where(Retro.workspace_id == workspace_id, Retro.id.in_(list(retro_ids)))
    )
    return {retro.id: retro for retro in rows}


async def claim_epic_send(
    session: AsyncSession,
    workspace_id: int,
    retro_id: int,
    seen: datetime | None,
    label: str,
    at: datetime,
) -> bool:
    """Records that the retro's epic is being created now, with `label`: True for one
    caller only, the one that still saw the last send time (`seen`) and no epic."""
    sent = Retro.epic_create_sent_at
    result = await session.execute(
        update(Retro)
        .where(
            Retro.id == retro_id,
            Retro.workspace_id == workspace_id,
            Retro.epic_issue_id.is_(None),
            sent.is_(None) if seen is None else sent == seen,
        )
        .values(epic_label=label, epic_create_sent_at=at)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


async def set_epic(session: AsyncSession, workspace_id: int, retro_id: int, **values) -> None:
    """Writes epic columns of the retro (its issue once created; the send time forgotten
    when Jira said no)."""
    await session.execute(
        update(Retro)
        .where(Retro.id == retro_id, Retro.workspace_id == workspace_id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )


async def set_summary_owed(
    session: AsyncSession, workspace_id: int, retro_id: int, at: datetime | None
) -> None:
    """Marks the retro's summary as owed a refresh since `at` (None: it is up to date)."""
    await session.execute(
        update(Retro)
        .where(Retro.workspace_id == workspace_id, Retro.id == retro_id)
        .values(summary_owed_at=at)
        .execution_options(synchronize_session=False)
    )


async def clear_summary_owed(
    session: AsyncSession, workspace_id: int, retro_id: int, seen: datetime
) -> bool:
    """Forgets the mark `seen` (the summary was shown as of a read that found it): a mark
    written since, by an edit still to come, stays. True when it was cleared."""
    result = await session.execute(
        update(Retro)
        .where(
            Retro.workspace_id == workspace_id,
            Retro.id == retro_id,
            Retro.summary_owed_at == seen,
        )
        .values(summary_owed_at=None)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


async def drop_summary_owed(
    session: AsyncSession, workspace_id: int, retro_id: int, before: datetime
) -> None:
    """Forgets a mark written before `before` (a summary no retry can show): one written
    since, by an edit still to come, stays."""
    await session.execute(
        update(Retro)
        .where(
            Retro.workspace_id == workspace_id,
            Retro.id == retro_id,
            Retro.summary_owed_at < before,
        )
        .values(summary_owed_at=None)
        .execution_options(synchronize_session=False)
    )


async def owed_summaries(
    session: AsyncSession, owed_before: datetime, limit: int
) -> list[tuple[int, int]]:
    """(workspace id, retro id) of summaries owed a refresh since before `owed_before`,
    oldest first. Through ix_retros_summary_owed: the query names its predicate."""
    rows = await session.execute(
        select(Retro.workspace_id, Retro.id)
        .where(Retro.summary_owed_at.is_not(None), Retro.summary_owed_at < owed_before)
        .order_by(Retro.summary_owed_at)
        .limit(limit)
    )
    return [(row.workspace_id, row.id) for row in rows]
