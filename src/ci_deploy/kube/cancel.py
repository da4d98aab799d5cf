"""A cancellation token shared by the threads of one deploy.

Signal handlers only call ``cancel()``; the callbacks (closing watch streams, waking queues) run
in a fresh thread so that a handler never blocks on a lock the interrupted code holds.
"""

from __future__ import annotations

import threading
from collections.abc import Callable


class CancelToken:
    """Set once; wakes whoever registered a callback."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[], None]] = []
        self.reason: str | None = None

    def is_set(self) -> bool:
        return self._event.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._event.wait(timeout)

    @property
    def event(self) -> threading.Event:
        return self._event

    def cancel(self, reason: str) -> None:
        """Mark cancelled and run the callbacks in a separate thread (safe in signal handlers)."""
        if self._event.is_set():
            return
        self.reason = reason
        self._event.set()
        threading.Thread(target=self._run_callbacks, name="cancel", daemon=True).start()

    def _run_callbacks(self) -> None:
        with self._lock:
            callbacks = list(self._callbacks)
        for callback in callbacks:
            try:
                callback()
            except Exception:  # one failing waker must not stop the others
                continue

    def on_cancel(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Register ``callback``; returns a function that unregisters it."""
        with self._lock:
            self._callbacks.append(callback)
        if self._event.is_set():
            threading.Thread(target=callback, daemon=True).start()

        def remove() -> None:
            with self._lock:
                if callback in self._callbacks:
                    self._callbacks.remove(callback)

        return remove
