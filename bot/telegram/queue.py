"""A fair queue for the LLM's slots: round-robin across users, a per-user limit and a global maximum; up to
`slots` questions run at once (the model decodes them together)."""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable


class QueueFull(Exception):
    """The whole queue is at its maximum."""


class TooManyPending(Exception):
    """This user already has the maximum number of questions waiting."""


log = logging.getLogger("articlebot.telegram.queue")
_ids = itertools.count(1)


@dataclass
class Job:
    user_id: int
    chat_id: int
    run: Callable[["Job"], Awaitable[None]]
    payload: dict[str, Any] = field(default_factory=dict)
    cancel: threading.Event = field(default_factory=threading.Event)
    id: int = field(default_factory=lambda: next(_ids))


class FairQueue:
    def __init__(self, max_total: int, max_per_user: int, slots: int = 1) -> None:
        self.max_total = max_total
        self.max_per_user = max_per_user
        self.slots = slots
        self._by_user: "OrderedDict[int, deque[Job]]" = OrderedDict()
        self._ready = asyncio.Event()
        self.running: list[Job] = []

    def __len__(self) -> int:
        return sum(len(q) for q in self._by_user.values())

    def pending_for(self, user_id: int) -> int:
        queued = len(self._by_user.get(user_id, ()))
        return queued + sum(1 for job in self.running if job.user_id == user_id)

    def put(self, job: Job) -> int:
        """Add a job; returns how many jobs it waits for (0: a slot is free for it now)."""
        if self.pending_for(job.user_id) >= self.max_per_user:
            raise TooManyPending()
        if len(self) >= self.max_total:
            raise QueueFull()
        self._by_user.setdefault(job.user_id, deque()).append(job)
        self._ready.set()
        free = self.slots - len(self.running)
        return max(0, self.position(job) - free + 1)

    def position(self, job: Job) -> int:
        """Jobs ahead of `job` in round-robin order: each user ahead of it gets one turn per round."""
        for index, candidate in enumerate(self._round_robin()):
            if candidate is job:
                return index
        return -1

    def _round_robin(self) -> list[Job]:
        queues = [list(q) for q in self._by_user.values()]
        order = []
        for round_jobs in itertools.zip_longest(*queues):
            order.extend(j for j in round_jobs if j is not None)
        return order

    async def get(self) -> Job:
        while True:
            for user_id, jobs in list(self._by_user.items()):
                if jobs:
                    job = jobs.popleft()
                    # this user goes to the back of the round
                    self._by_user.move_to_end(user_id)
                    if not jobs:
                        del self._by_user[user_id]
                    return job
                del self._by_user[user_id]
            self._ready.clear()
            await self._ready.wait()

    def cancel_chat(self, chat_id: int | None) -> list[Job]:
        """Drop the chat's waiting jobs (every chat's, for None) and signal its running one; returns the
        jobs affected, the running one last."""
        dropped: list[Job] = []
        for user_id in list(self._by_user):
            kept = deque(j for j in self._by_user[user_id] if chat_id is not None and j.chat_id != chat_id)
            dropped.extend(j for j in self._by_user[user_id] if j not in kept)
            if kept:
                self._by_user[user_id] = kept
            else:
                del self._by_user[user_id]
        for job in self.running:
            if chat_id is None or job.chat_id == chat_id:
                job.cancel.set()
                dropped.append(job)
        return dropped

    async def serve_forever(self) -> None:
        """Run up to `slots` jobs at a time; a failing job never stops its slot."""
        await asyncio.gather(*(self._serve_slot() for _ in range(self.slots)))

    async def _serve_slot(self) -> None:
        while True:
            job = await self.get()
            self.running.append(job)
            try:
                await job.run(job)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the job reports its own errors to the user
                log.exception("event=job_failed job=%s", job.id)
            finally:
                self.running.remove(job)
