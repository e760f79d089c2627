"""Once-only facts about telling people: an owner's direct message per commit of a retro,
and a retro's "all done" line. Each is claimed with one write that only one process (and
one retry) can win."""

from __future__ import annotations

from sqlalchemy import exists, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.clock import utcnow
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


async def claim_all_done(session: AsyncSession, workspace_id: int, retro_id: int) -> int:
    """How many items the retro has, exactly once per retro: when it has items and none is
    open any more; 0 every other time."""
    own = (ActionItem.workspace_id == workspace_id) & (ActionItem.retro_id == retro_id)
    result = await session.execute(
        update(Retro)
        .where(
            Retro.workspace_id == workspace_id,
            Retro.id == retro_id,
            Retro.all_done_at.is_(None),
            exists(select(ActionItem.id).where(own)),
            ~exists(select(ActionItem.id).where(own, ActionItem.status == ItemStatus.OPEN)),
        )
        .values(all_done_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return 0
    return await session.scalar(select(func.count(ActionItem.id)).where(own))
