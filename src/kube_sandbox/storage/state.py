"""Persistence of the sandbox's objects across restarts (``--state-file``)."""

from __future__ import annotations

import json
from pathlib import Path

from kube_sandbox.storage.files import write_private
from kube_sandbox.storage.store import Store


def load_state(store: Store, path: Path) -> bool:
    """Restore ``store`` from ``path`` when it exists; returns whether it did.

    Raises ValueError (with what is wrong) for a file that is not a sandbox state file.
    """
    if not path.exists():
        return False
    with path.open(encoding="utf-8") as handle:
        data = json.load(handle)  # JSONDecodeError is a ValueError
    try:
        store.restore(data)
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(
            f"not a sandbox state file (expected objects with metadata): {exc!r}"
        ) from exc
    return True


def save_state(store: Store, path: Path) -> None:
    """Write the store's snapshot to ``path`` atomically (temp file, then rename)."""
    write_private(path, json.dumps(store.snapshot(), separators=(",", ":")))
