"""Work that runs beside the web server: the scheduler and the sync worker.

Each capability registers its periodic jobs in `start`; everything stops cleanly on
shutdown so an in-flight Jira call is not cut halfway by the process exiting.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.runtime import Runtime

logger = logging.getLogger(__name__)


@dataclass
class BackgroundJobs:
    scheduler: AsyncIOScheduler
    tasks: list = field(default_factory=list)


async def start(runtime: Runtime) -> BackgroundJobs:
    scheduler = AsyncIOScheduler(timezone="UTC")
    jobs = BackgroundJobs(scheduler=scheduler)
    scheduler.start()
    return jobs


async def stop(jobs: BackgroundJobs) -> None:
    jobs.scheduler.shutdown(wait=False)
    for task in jobs.tasks:
        task.cancel()
