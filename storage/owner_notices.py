"""Once-only facts about telling people: an owner's direct message per commit of a retro,
and a retro's "all done" line. Each is claimed with one write that only one process (and
one retry) can win."""

from __future__ import annotations

from sqlalchemy import bindparam, exists, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.clock import utcnow
from storage.column_types import UtcDateTime
from storage.models import ActionItem, ItemStatus, OwnerNotice, Retro


async def claim_owner_notice(
    session: AsyncSession, workspace_id: int, retro_id: int, commit_seq: int, user_id: str
) -> bool:
    """True when this owner had not been told about this commit yet (and now counts as
    told); False when someone else already claimed it."""
    try:
        async with session.begin_nested():
            session.add(
                OwnerNotice(
                    workspace_id=workspace_id,
                    retro_id=retro_id,
                    commit_seq=commit_seq,
                    user_id=user_id,
                )
            )
    except IntegrityError:
        return False
    return True


def _all_done_statements():
    """The claim of a retro's "all done" line (the `ws`, `retro` and `now` parameters),
    and the count of its items."""
    items = ActionItem.__table__.c
    own = (items.workspace_id == bindparam("ws")) & (items.retro_id == bindparam("retro"))
    retros = Retro.__table__
    claim = (
        update(retros)
        .where(
            retros.c.workspace_id == bindparam("ws"),
            retros.c.id == bindparam("retro"),
            retros.c.all_done_at.is_(None),
            exists(select(items.id).where(own)),
            ~exists(select(items.id).where(own, items.status == ItemStatus.OPEN)),
        )
        .values(all_done_at=bindparam("now", type_=UtcDateTime()))
    )
    return claim, select(func.count(items.id)).where(own)


# Built once: every status change a delivery applies asks whether its retro is all done.
_CLAIM_ALL_DONE, _COUNT_ITEMS = _all_done_statements()


async def claim_all_done(session: AsyncSession, workspace_id: int, retro_id: int) -> int:
    """How many items the retro has, exactly once per retro: when it has items and none is
    open any more; 0 every other time."""
    values = {"ws": workspace_id, "retro": retro_id}
    result = await session.execute(_CLAIM_ALL_DONE, values | {"now": utcnow()})
    if result.rowcount != 1:
        return 0
    return await session.scalar(_COUNT_ITEMS, values)
