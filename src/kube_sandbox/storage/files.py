"""Files the sandbox writes (its state, kubeconfig, tokens, certificates): private and whole.

The sandbox imports nothing of ci-deploy, so it keeps its own writer: a temporary file beside
the target (created 0600 by ``mkstemp``), flushed, synced and renamed over it, so that a reader
never sees half a kubeconfig and no other user ever reads a token.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_private(path: Path, text: str, mode: int = 0o600) -> None:
    """Write ``text`` to ``path`` atomically, readable by its owner only unless ``mode`` says."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if mode != 0o600:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
