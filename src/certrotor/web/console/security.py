"""The console's defences that are not sessions: login rate limiting and the security headers."""

from __future__ import annotations

import threading
import time
from collections import deque

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
"""No inline script or style anywhere: the pages load /static/console.js and /static/console.css."""

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cache-Control": "no-store",
}

MAX_FAILURES = 5
FAILURE_WINDOW_SECONDS = 15 * 60


class LoginThrottle:
    """Refuses logins for a name or a client address after ``max_failures`` failures in a window.

    Both keys count: guessing one user's password from many addresses, or many users' passwords
    from one address, are both slowed down. A success clears the name's failures.
    """

    def __init__(
        self, max_failures: int = MAX_FAILURES, window_seconds: float = FAILURE_WINDOW_SECONDS
    ) -> None:
        self.max_failures = max_failures
        self.window_seconds = window_seconds
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        failures = self._failures.setdefault(key, deque())
        while failures and now - failures[0] > self.window_seconds:
            failures.popleft()
        return failures

    def retry_after(self, user: str, client: str, now: float | None = None) -> float:
        """Seconds until a login for ``user`` from ``client`` may be tried again (0: allowed now)."""
        now = time.monotonic() if now is None else now
        waits = [0.0]
        with self._lock:
            for key in (f"user:{user.lower()}", f"client:{client}"):
                failures = self._recent(key, now)
                if len(failures) >= self.max_failures:
                    waits.append(self.window_seconds - (now - failures[0]))
        return max(waits)

    def failed(self, user: str, client: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self._lock:
            for key in (f"user:{user.lower()}", f"client:{client}"):
                self._recent(key, now).append(now)

    def succeeded(self, user: str) -> None:
        with self._lock:
            self._failures.pop(f"user:{user.lower()}", None)
