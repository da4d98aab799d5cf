"""Fault injection for tests: errors, latency, conflicts and cut watches. Off by default.

Configured by ``ci-deploy sandbox serve --fault-…`` flags, by ``POST /_sandbox/faults`` (JSON,
same keys as :class:`FaultSettings`), or in-process through ``SandboxHandle.faults``.
Decisions come from one seeded RNG, so a run with a ``seed`` is reproducible for a given
request order. The admin endpoint, discovery and openapi are never faulted unless
``include_discovery`` is set. Every injected fault is logged and counted
(``GET /_sandbox/faults``).
"""

from __future__ import annotations

import dataclasses
import logging
import random
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from kube_sandbox.protocol.messages import Request, Response, status_object
from kube_sandbox.storage.store import StoreError

log = logging.getLogger("kube_sandbox.faults")

_NEVER_FAULTED = ("/_sandbox/",)
_DISCOVERY = ("/version", "/api", "/apis", "/openapi/", "/healthz", "/livez", "/readyz")
_WRITES = ("POST", "PUT", "PATCH", "DELETE")
_REASONS = {500: "InternalError", 503: "ServiceUnavailable", 429: "TooManyRequests"}


@dataclass
class FaultSettings:
    """What to inject. Shares are probabilities per eligible request (0 = never)."""

    error_500: float = 0.0
    error_503: float = 0.0
    error_429: float = 0.0
    retry_after: int = 1  # seconds, sent with 429
    latency: float = 0.0  # seconds added to a request
    latency_share: float = 1.0  # share of requests that get the latency (when latency > 0)
    conflict_share: float = 0.0  # share of writes answered 409 Conflict
    watch_max_events: int = 0  # cut every watch after N events (0 = never)
    watch_max_seconds: float = 0.0  # cut every watch after T seconds (0 = never)
    include_discovery: bool = False
    path_contains: str = ""  # only requests whose path contains this text
    seed: int | None = None
    # Refuse every write whose path?query contains refuse_path with refuse_status (an admission
    # webhook or RBAC saying no), dry runs included only with refuse_dry_run. Not random.
    refuse_path: str = ""
    refuse_status: int = 403
    refuse_dry_run: bool = False


@dataclass
class Faults:
    """Thread-safe fault injector: the settings, the RNG and the counters."""

    settings: FaultSettings = field(default_factory=FaultSettings)
    counts: Counter[str] = field(default_factory=Counter)
    recent: deque[str] = field(default_factory=lambda: deque(maxlen=200))

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(self.settings.seed)

    def configure(self, changes: dict[str, Any]) -> None:
        """Update settings from a dict (unknown keys → 400); a ``seed`` re-seeds the RNG."""
        known = {f.name for f in dataclasses.fields(FaultSettings)}
        unknown = sorted(set(changes) - known - {"reset"})
        if unknown:
            raise StoreError(400, "BadRequest", f"unknown fault settings: {', '.join(unknown)}")
        checked = {k: _checked(k, v) for k, v in changes.items() if k != "reset"}
        with self._lock:
            if changes.get("reset"):
                self.settings = FaultSettings()
                self.counts.clear()
                self.recent.clear()
            for key, value in checked.items():
                setattr(self.settings, key, value)
            self._rng = random.Random(self.settings.seed)

    def set(self, **changes: Any) -> None:
        """Keyword form of :meth:`configure`, for tests: ``sb.faults.set(error_503=0.5)``."""
        self.configure(changes)

    def reset(self) -> None:
        """Turn every fault off and clear the counters."""
        self.configure({"reset": True})

    def describe(self) -> dict[str, Any]:
        """Settings, counters and the most recent injected faults (admin endpoint body)."""
        with self._lock:
            return {
                "settings": dataclasses.asdict(self.settings),
                "counts": dict(self.counts),
                "recent": list(self.recent),
            }

    def record(self, kind: str, detail: str) -> None:
        """Count and log one injected fault."""
        with self._lock:
            self.counts[kind] += 1
            self.recent.append(f"{kind} {detail}")
        log.warning("injected fault %s: %s", kind, detail)

    def _eligible(self, path: str) -> bool:
        if path.startswith(_NEVER_FAULTED):
            return False
        s = self.settings
        # resource paths also start with /api or /apis: only pure discovery is exempt
        if not s.include_discovery and path.startswith(_DISCOVERY) and not _is_resource_path(path):
            return False
        return s.path_contains in path

    def before_request(self, req: Request) -> Response | None:
        """A fault response to send instead of serving ``req``, or None (maybe after a delay)."""
        refusal = self._refusal(req)
        if refusal is not None:
            return refusal
        if not self._eligible(req.path):
            return None
        with self._lock:
            s = self.settings
            delay = s.latency if s.latency > 0 and self._rng.random() < s.latency_share else 0.0
            roll = self._rng.random()
            conflict = req.method in _WRITES and self._rng.random() < s.conflict_share
        if delay:
            self.record("latency", f"{delay:.3f}s {req.method} {req.path}")
            time.sleep(delay)  # the injected slowness itself, not a wait for a condition
        code = self._pick_error(roll)
        if code:
            self.record(str(code), f"{req.method} {req.path}")
            return _error(code, self.settings.retry_after)
        if conflict:
            self.record("409", f"{req.method} {req.path}")
            return _error(409, 0)
        return None

    def _refusal(self, req: Request) -> Response | None:
        s = self.settings
        target = f"{req.path}?{urlencode(req.query)}"  # e.g. "…/deployments/web?fieldManager=x"
        if not s.refuse_path or req.method not in _WRITES or s.refuse_path not in target:
            return None
        if req.query.get("dryRun") == "All" and not s.refuse_dry_run:
            return None
        self.record(f"refused {s.refuse_status}", f"{req.method} {req.path}")
        return _refused(s.refuse_status, req.path)

    def _pick_error(self, roll: float) -> int:
        s = self.settings
        for code, share in ((500, s.error_500), (503, s.error_503), (429, s.error_429)):
            if roll < share:
                return code
            roll -= share
        return 0

    def watch_limits(self) -> tuple[int, float]:
        """(max events, max seconds) after which a watch stream is cut; 0 = unlimited."""
        return self.settings.watch_max_events, self.settings.watch_max_seconds


_SHARES = {"error_500", "error_503", "error_429", "latency_share", "conflict_share"}
_COUNTS = {"retry_after", "watch_max_events", "refuse_status"}
_SECONDS = {"latency", "watch_max_seconds"}


def _checked(key: str, value: Any) -> Any:
    """A setting's value with its type checked (400 BadRequest naming the key otherwise)."""

    def bad(expected: str) -> StoreError:
        return StoreError(
            400, "BadRequest", f"fault setting {key}: expected {expected}, got {value!r}"
        )

    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if key in _SHARES:
        if not number or not 0 <= value <= 1:
            raise bad("a share between 0 and 1")
        return float(value)
    if key in _COUNTS:
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise bad("a whole number >= 0")
        return value
    if key in _SECONDS:
        if not number or value < 0:
            raise bad("seconds >= 0")
        return float(value)
    if key in ("include_discovery", "refuse_dry_run"):
        if not isinstance(value, bool):
            raise bad("true or false")
        return value
    if key == "seed":
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise bad("a whole number or null")
        return value
    if not isinstance(value, str):  # path_contains, refuse_path
        raise bad("a string")
    return value


def _is_resource_path(path: str) -> bool:
    parts = [p for p in path.split("/") if p]
    return (parts[:1] == ["api"] and len(parts) > 2) or (parts[:1] == ["apis"] and len(parts) > 3)


def _error(code: int, retry_after: int) -> Response:
    if code == 409:
        message = "Operation cannot be fulfilled: injected conflict (sandbox fault injection)"
        return Response(409, status_object(409, "Conflict", message))
    message = f"injected fault (sandbox fault injection): HTTP {code}"
    headers = {"Retry-After": str(retry_after)} if code == 429 else {}
    return Response(code, status_object(code, _REASONS[code], message), headers)


def _refused(code: int, path: str) -> Response:
    reasons = {400: "BadRequest", 403: "Forbidden", 404: "NotFound", 422: "Invalid"}
    message = f"admission webhook denied the request for {path} (sandbox fault injection)"
    return Response(code, status_object(code, reasons.get(code, "Forbidden"), message))
