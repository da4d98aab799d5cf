"""SIGTERM / SIGINT during a rollout: cancel cleanly instead of dying mid-change.

The first signal cancels the token: the rollout stops waiting, records its phase, rolls back
(unless told not to), releases the lock and exits 1. A second signal cuts the rollback wait
short (the record then says the rollback was applied but not confirmed).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from ci_deploy.kube.cancel import CancelToken


@contextmanager
def cancel_on_signals(token: CancelToken, urgent: CancelToken) -> Iterator[None]:
    """Within the block, SIGTERM/SIGINT cancel ``token``; a second one cancels ``urgent`` too."""
    names = {signal.SIGTERM: "SIGTERM", signal.SIGINT: "SIGINT"}

    def handler(signum: int, frame: FrameType | None) -> None:
        reason = f"cancelled by {names.get(signal.Signals(signum), str(signum))}"
        if token.is_set():
            urgent.cancel(reason)
        else:
            token.cancel(reason)

    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may install handlers (e.g. a deploy run from a test thread)
        return
    previous = {sig: signal.signal(sig, handler) for sig in names}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
