"""Per-user rate limit: at most N questions in a sliding window, so one user cannot monopolise the bot
even when each question is answered quickly (the queue's per-user limit only counts waiting ones)."""

from __future__ import annotations

import time
from collections import deque
from typing import Callable


class UserRateLimit:
    def __init__(self, limit: int, window_s: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window_s = window_s
        self.clock = clock
        self._seen: dict[int, deque[float]] = {}

    def allow(self, user_id: int) -> bool:
        """Count one question; False when the user is over the limit (0 disables the limit)."""
        if self.limit <= 0:
            return True
        now = self.clock()
        stamps = self._seen.setdefault(user_id, deque())
        while stamps and now - stamps[0] >= self.window_s:
            stamps.popleft()
        if len(stamps) >= self.limit:
            return False
        stamps.append(now)
        if len(self._seen) > 10_000:  # forget idle users so memory stays bounded
            self._seen = {u: s for u, s in self._seen.items() if s and now - s[-1] < self.window_s}
        return True
