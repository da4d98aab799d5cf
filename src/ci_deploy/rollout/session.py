"""What the steps of one rollout share: the cluster session, the record, what was applied.

A step's ``run`` gets this context and nothing else; what a step needs beyond the session
(which Deployment, which template, which objects) the step carries itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ci_deploy.kube.cancel import CancelToken
from ci_deploy.kube.changes import ApplyReport
from ci_deploy.kube.client import DEPLOYMENT, KubeClient
from ci_deploy.kube.errors import ApiError, NetworkError
from ci_deploy.kube.health import deadline_condition
from ci_deploy.kube.state import Phase, StateConflict, StateError, StateRecord, StateStore, utc_now
from ci_deploy.lifecycle import Events
from ci_deploy.rollout.progress import Progress

Obj = dict[str, Any]


class StepFailed(Exception):
    """A step could not finish: ``kind`` is failed | timeout | cancelled | lost | api | forbidden.

    ``api``: the Kubernetes API itself failed (after the retry budget), not the release.
    ``forbidden``: the API refused the kubeconfig's user (401/403).
    """

    def __init__(self, kind: str, message: str, step: str = "") -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.step = step  # the name of the step that failed (set by the executor)
        self.number = 0  # its number in the plan (set by the executor)


class RolloutPaused(Exception):
    """A manual gate was reached: the record says ``Paused`` at this step; the verb exits 0.

    Not a failure: ``promote`` continues from the step after it, ``abort`` undoes the rollout.
    """

    def __init__(self, message: str, step: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.step = step


@dataclass
class RolloutContext:
    """What the steps of one rollout share: the session, the record, what was applied."""

    client: KubeClient
    namespace: str
    store: StateStore
    record: StateRecord
    progress: Progress
    cancel: CancelToken
    lock_lost: CancelToken | None = None
    fail_fast_grace: float = 3.0
    deployment_exists: bool = False
    apply_report: ApplyReport | None = None  # what the apply step did, object by object
    stale_deadline: Obj | None = None  # a timed-out condition present before our change
    record_failures: list[str] = field(default_factory=list)
    events: Events = field(default_factory=Events)
    skip_pauses: bool = False  # deploy --no-pause, promote --full: manual gates pass

    def save(self, *, strict: bool = False, **changes: Any) -> None:
        """Update the record and write it (once there is a Deployment to write it on).

        Not ``strict``: a write that fails (the API gave up) is noted in ``record_failures``
        and the rollout goes on; a record changed by another process always raises.
        """
        ids = self.events.status_ids(self.record)  # what notifiers left for later jobs
        if ids != self.record.status_ids:
            changes.setdefault("status_ids", ids)
        self.record = self.record.with_changes(**changes)
        if not self.deployment_exists:
            return
        try:
            self.store.write(self.record)
        except StateConflict:
            raise
        except (ApiError, NetworkError, StateError) as exc:
            if strict:
                raise
            self.record_failures.append(str(exc))

    def set_phase(self, phase: Phase, message: str, *, final: bool = True) -> None:
        """Record ``phase`` with a message (and ``finishedAt`` when final); best effort."""
        extra: dict[str, Any] = {"finished_at": utc_now()} if final else {}
        try:
            self.save(phase=phase, message=message, **extra)
        except StateConflict as exc:  # the outcome must still be told
            self.record_failures.append(str(exc))

    def before_change(self, deployment: str) -> None:
        """Note the Deployment's timed-out condition (if any) before we change its template."""
        current = self.client.get_or_none(DEPLOYMENT.path(self.namespace, deployment))
        self.stale_deadline = deadline_condition(current)
