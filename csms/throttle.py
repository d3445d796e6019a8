"""Failed attempts counted per key over a sliding window, in this process's memory.

Slows guessing (a charger's password at the handshake, a person's at sign-in)
without a database write per attempt. Per process: a site with several server processes allows
that many times the limit, still far from the hundreds of guesses a second it
took before. Django-free and thread-safe (admission runs on the ORM pool).
"""

import threading
import time
from collections import defaultdict, deque


class FailureWindow:
    """How many failures each key had in the last `window_s` seconds."""

    def __init__(self, window_s: float, max_keys: int = 100_000):
        self.window_s, self.max_keys = window_s, max_keys
        self._failures: dict[object, deque] = defaultdict(deque)
        self._lock = threading.Lock()

    def failed(self, key, now: float | None = None) -> None:
        with self._lock:
            if len(self._failures) >= self.max_keys:  # a flood of made-up keys must not grow memory
                self._failures.clear()
            self._failures[key].append(time.monotonic() if now is None else now)

    def count(self, key, now: float | None = None) -> int:
        now = time.monotonic() if now is None else now
        with self._lock:
            failures = self._failures.get(key)
            if failures is None:
                return 0
            while failures and failures[0] <= now - self.window_s:
                failures.popleft()
            if not failures:
                del self._failures[key]
            return len(failures)

    def clear(self) -> None:
        with self._lock:
            self._failures.clear()


class Spacing:
    """At most one go per key every `every_s` seconds: a slowed path that never closes."""

    def __init__(self, every_s: float, max_keys: int = 100_000):
        self.every_s, self.max_keys = every_s, max_keys
        self._last: dict[object, float] = {}
        self._lock = threading.Lock()

    def allow(self, key, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        with self._lock:
            if now - self._last.get(key, float("-inf")) < self.every_s:
                return False
            if len(self._last) >= self.max_keys:
                self._last.clear()
            self._last[key] = now
            return True
