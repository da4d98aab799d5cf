"""One deploy at a time per app and environment: a ``coordination.k8s.io/v1`` Lease.

The lease ``ci-deploy-<app>`` in the environment's namespace names its holder (the pipeline or
job URL when known). It is renewed by a background thread while the deploy runs; a holder that
stops renewing (a killed job) loses it after ``leaseDurationSeconds``. Waiting for a held lease
watches it (no polling) until it is released, expires, or the wait times out.
"""

from __future__ import annotations

import math
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone

from ci_deploy.kube.cancel import CancelToken
from ci_deploy.kube.client import LEASE, KubeClient, Obj
from ci_deploy.kube.errors import ApiError, NetworkError

HOLDER_URL_ANNOTATION = "ci-deploy.dev/holder-url"


class LockTimeout(Exception):
    """Another deploy held the lease for longer than we were willing to wait."""

    def __init__(self, message: str, holder: str) -> None:
        super().__init__(message)
        self.holder = holder


class LockCancelled(Exception):
    """The wait for the lease was cancelled (SIGTERM/SIGINT)."""


@dataclass(frozen=True)
class Holder:
    """Who holds the lock: a unique id plus what a person can follow (a job URL)."""

    id: str
    description: str
    url: str | None = None

    @property
    def identity(self) -> str:
        """The Lease's holderIdentity: readable, and unique per process."""
        return f"{self.description} [{self.id}]"


def run_url(environ: Mapping[str, str]) -> str | None:
    """The URL of the current pipeline run or job, when a CI system tells us."""
    if environ.get("GITHUB_RUN_ID") and environ.get("GITHUB_REPOSITORY"):
        server = environ.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
        return f"{server}/{environ['GITHUB_REPOSITORY']}/actions/runs/{environ['GITHUB_RUN_ID']}"
    return environ.get("CI_JOB_URL") or None


def current_holder(environ: Mapping[str, str] | None = None) -> Holder:
    """This process as a lock holder."""
    env = os.environ if environ is None else environ
    url = run_url(env)
    user = env.get("USER") or env.get("GITLAB_USER_LOGIN") or env.get("GITHUB_ACTOR") or "someone"
    local = f"{user}@{socket.gethostname()} pid {os.getpid()}"
    return Holder(id=uuid.uuid4().hex[:8], description=url or local, url=url)


def micro_time(at: float) -> str:
    """Kubernetes MicroTime text for a POSIX timestamp."""
    return datetime.fromtimestamp(at, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str | None) -> float | None:
    """A POSIX timestamp from Kubernetes (Micro)Time text; None if absent or unreadable."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


class LeaseLock:
    """Acquire, renew (thread), release and take over a Lease."""

    def __init__(
        self,
        client: KubeClient,
        namespace: str,
        name: str,
        holder: Holder,
        *,
        ttl: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.namespace = namespace
        self.name = name
        self.holder = holder
        self.ttl = ttl
        self.clock = clock
        # Cancelled when renewal finds someone else holding the lease (wakes a waiting rollout).
        self.lost = CancelToken()
        self._path = LEASE.path(namespace, name)
        self._held: Obj | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._first_seen: dict[str, float] = {}  # resourceVersion -> when we first saw it

    # -- acquiring --------------------------------------------------------------------------
    def _spec(self, transitions: int, acquired: float | None = None) -> Obj:
        now = self.clock()
        return {
            "holderIdentity": self.holder.identity,
            "leaseDurationSeconds": max(1, math.ceil(self.ttl)),
            "acquireTime": micro_time(acquired or now),
            "renewTime": micro_time(now),
            "leaseTransitions": transitions,
        }

    def _metadata(self, base: Obj | None = None) -> Obj:
        meta: Obj = dict(base or {"name": self.name, "namespace": self.namespace})
        annotations = dict(meta.get("annotations") or {})
        if self.holder.url:
            annotations[HOLDER_URL_ANNOTATION] = self.holder.url
        else:
            annotations.pop(HOLDER_URL_ANNOTATION, None)
        meta["annotations"] = annotations
        return meta

    def expired(self, lease: Obj) -> bool:
        """Free, or not renewed within its duration (by its renewTime or by our own watch)."""
        spec = lease.get("spec") or {}
        if not spec.get("holderIdentity"):
            return True
        duration = float(spec.get("leaseDurationSeconds") or self.ttl)
        now = self.clock()
        renewed = parse_time(spec.get("renewTime")) or parse_time(spec.get("acquireTime"))
        if renewed is not None and renewed + duration < now:
            return True
        # Clock skew guard: a record unchanged for a full duration as we watched it is dead.
        rv = str(lease["metadata"].get("resourceVersion"))
        first = self._first_seen.setdefault(rv, now)
        return first + duration < now

    def try_acquire(self) -> Obj | None:
        """One attempt: the lease we now hold, or the lease someone else holds."""
        lease = self.client.get_or_none(self._path)
        if lease is None:
            body = {
                "apiVersion": LEASE.api_version,
                "kind": "Lease",
                "metadata": self._metadata(),
                "spec": self._spec(0),
            }
            try:
                self._held = self.client.request(
                    "POST", LEASE.path(self.namespace), body=body, query=None
                )
            except ApiError as exc:
                if exc.status != 409:
                    raise
                # Someone created it first — or our own create landed and only its answer was
                # lost (the retry then meets our lease): look again.
                current = self.client.get_or_none(self._path)
                if current is not None and self._mine(current):
                    self._held = current
                    return None
                return current
            return None
        spec = lease.get("spec") or {}
        mine = self._mine(lease)
        if mine or self.expired(lease):
            transitions = int(spec.get("leaseTransitions") or 0) + (0 if mine else 1)
            body = {**lease, "metadata": self._metadata(lease["metadata"])}
            body["spec"] = self._spec(transitions)
            try:
                self._held = self.client.request("PUT", self._path, body=body)
            except ApiError as exc:
                if exc.is_conflict:
                    return self.client.get_or_none(self._path)
                raise
            return None
        return lease

    def _mine(self, lease: Obj) -> bool:
        return (lease.get("spec") or {}).get("holderIdentity") == self.holder.identity

    def acquire(
        self,
        timeout: float,
        *,
        cancelled: CancelToken | None = None,
        on_wait: Callable[[str], None] | None = None,
    ) -> None:
        """Take the lease, waiting up to ``timeout`` seconds; LockTimeout names the holder."""
        deadline = time.monotonic() + timeout
        told = False
        races = 0
        while True:
            if cancelled is not None and cancelled.is_set():
                raise LockCancelled("cancelled while waiting for the deploy lock")
            other = self.try_acquire()
            if other is None and self._held is not None:
                return
            if other is None:
                continue
            if self._mine(other) or self.expired(other):
                # Free (or ours), yet the write lost a race (409): nobody is there to wait
                # for, so try again at once, with a little backoff to stay bounded.
                races += 1
                pause = min(0.2, self.client.policy.delay(races, None))
                if time.monotonic() + pause < deadline:
                    time.sleep(pause)
                    continue
            spec = other.get("spec") or {}
            holder = str(spec.get("holderIdentity"))
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise LockTimeout(
                    f"another deploy of this app holds the lock {self.namespace}/{self.name}: "
                    f"{holder} (acquired {spec.get('acquireTime')}, renewed "
                    f"{spec.get('renewTime')}); waited {timeout:.0f}s",
                    holder,
                )
            if on_wait is not None and not told:
                on_wait(f"waiting up to {remaining:.0f}s for the deploy lock held by {holder}")
                told = True
            duration = float(spec.get("leaseDurationSeconds") or self.ttl)
            self._wait_for_change(other, min(remaining, duration + 0.5), cancelled)

    def _wait_for_change(self, lease: Obj, seconds: float, cancelled: CancelToken | None) -> None:
        """Block until the lease changes, ``seconds`` pass, or we are cancelled."""
        query = [
            ("fieldSelector", f"metadata.name={self.name}"),
            ("resourceVersion", str(lease["metadata"].get("resourceVersion", ""))),
        ]
        try:
            stream = self.client.open_watch(
                LEASE.path(self.namespace), query, timeout_seconds=max(1, math.ceil(seconds))
            )
        except (ApiError, NetworkError):
            # e.g. 410 Gone: the next loop turn re-reads; pause a little to stay bounded
            if cancelled is not None:
                cancelled.wait(min(seconds, 0.5))
            else:
                time.sleep(min(seconds, 0.5))
            return
        timer = threading.Timer(seconds, stream.close)  # our own bound, whatever the server does
        timer.daemon = True
        timer.start()
        stop_waking = cancelled.on_cancel(stream.close) if cancelled is not None else None
        try:
            for event in stream:
                if event.get("type") in ("MODIFIED", "DELETED", "ADDED", "ERROR"):
                    return
        except NetworkError:
            return
        finally:
            timer.cancel()
            if stop_waking is not None:
                stop_waking()
            stream.close()

    # -- renewing ---------------------------------------------------------------------------
    def start_renewing(self) -> None:
        """Renew the lease every third of its duration until ``release``."""
        self._thread = threading.Thread(target=self._renew_loop, name="lease-renew", daemon=True)
        self._thread.start()

    def _renew_loop(self) -> None:
        interval = max(0.2, self.ttl / 3)
        while not self._stop.wait(interval):
            try:
                self.renew()
            except (ApiError, NetworkError):
                continue  # the next turn tries again; expiry is what finally decides
            if self.lost.is_set():
                return

    def renew(self) -> None:
        """Push renewTime forward; sets ``lost`` if the lease is no longer ours."""
        for _ in range(5):
            lease = self._held or self.client.get_or_none(self._path)
            if (
                lease is None
                or (lease.get("spec") or {}).get("holderIdentity") != self.holder.identity
            ):
                self.lost.cancel("lost the deploy lock to another process")
                return
            body = dict(lease)
            spec = dict(lease["spec"])
            spec["renewTime"] = micro_time(self.clock())
            body["spec"] = spec
            try:
                self._held = self.client.request("PUT", self._path, body=body)
                return
            except ApiError as exc:
                if not exc.is_conflict:
                    raise
                self._held = None  # re-read and check we still hold it

    # -- releasing --------------------------------------------------------------------------
    def release(self) -> None:
        """Stop renewing and free the lease (only if it is still ours)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        for _ in range(10):
            # The lease as we last renewed it saves a GET; a conflict means re-reading.
            lease = self._held or self.client.get_or_none(self._path)
            if lease is None:
                return
            spec = dict(lease.get("spec") or {})
            if spec.get("holderIdentity") != self.holder.identity:
                return
            spec["holderIdentity"] = None
            spec["renewTime"] = micro_time(self.clock())
            body = {**lease, "spec": spec}
            try:
                self.client.request("PUT", self._path, body=body)
                self._held = None
                return
            except ApiError as exc:
                if not exc.is_conflict:
                    raise
                self._held = None
