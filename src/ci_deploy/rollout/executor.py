"""Runs a plan's steps one by one and records the state in the cluster after each.

Each step type has one handler. A handler that cannot finish raises ``StepFailed`` with a kind
(failed, timeout, cancelled, lost) that the caller turns into a rollback or a record.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ci_deploy.kube.apply import ApplyError, apply_objects
from ci_deploy.kube.cancel import CancelToken
from ci_deploy.kube.client import DEPLOYMENT, KubeClient
from ci_deploy.kube.errors import ApiError, NetworkError
from ci_deploy.kube.health import REVISION_ANNOTATION, RolloutStatus, deadline_condition
from ci_deploy.kube.state import Phase, StateError, StateRecord, StateStore, utc_now
from ci_deploy.kube.watch import selector_text, wait_for_rollout
from ci_deploy.rollout.plan import Apply, Plan, Record, RecordStable, Step, WaitForRollout
from ci_deploy.rollout.progress import Progress

Obj = dict[str, Any]


class StepFailed(Exception):
    """A step could not finish: ``kind`` is failed | timeout | cancelled | lost."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


@dataclass
class RolloutContext:
    """Everything the steps of one rollout share."""

    client: KubeClient
    namespace: str
    deployment: str
    objects: list[Obj]
    store: StateStore
    record: StateRecord
    progress: Progress
    cancel: CancelToken
    lock_lost: CancelToken | None = None
    fail_fast_grace: float = 3.0
    applied: bool = False
    stale_deadline: Obj | None = None  # a timed-out condition present before our change
    deployment_exists: bool = False

    def save(self, **changes: Any) -> None:
        """Update the record and write it (once there is a Deployment to write it on)."""
        self.record = self.record.with_changes(**changes)
        if self.deployment_exists:
            self.store.write(self.record)

    def set_phase(self, phase: Phase, message: str, *, final: bool = True) -> None:
        """Record ``phase`` with a message (and ``finishedAt`` when final)."""
        extra: dict[str, Any] = {"finished_at": utc_now()} if final else {}
        self.save(phase=phase, message=message, **extra)

    def before_change(self) -> None:
        """Note the Deployment's timed-out condition (if any) before we change its template."""
        current = self.client.get_or_none(DEPLOYMENT.path(self.namespace, self.deployment))
        self.stale_deadline = deadline_condition(current)

    def watch(self, timeout: float, cancel: CancelToken) -> tuple[str, str, RolloutStatus | None]:
        """Wait for the Deployment's rollout; (result, message, last status)."""
        selector = _selector(self.objects, self.deployment)
        outcome = wait_for_rollout(
            self.client,
            self.namespace,
            self.deployment,
            selector,
            timeout=timeout,
            cancel=cancel,
            on_progress=lambda s: self.progress.update(s.message),
            fail_fast_grace=self.fail_fast_grace,
            extra_stop=self.lock_lost,
            stale_deadline=self.stale_deadline,
        )
        if outcome.deployment is not None:
            revision = (outcome.deployment["metadata"].get("annotations") or {}).get(
                REVISION_ANNOTATION
            )
            if revision:
                self.record = self.record.with_changes(deployment_revision=str(revision))
        return outcome.result, outcome.message, outcome.status


def _selector(objects: list[Obj], name: str) -> str:
    for obj in objects:
        if obj.get("kind") == "Deployment" and obj["metadata"]["name"] == name:
            return selector_text(obj)
    raise ValueError(f"no Deployment {name} among the rendered objects")


# -- handlers ---------------------------------------------------------------------------------
def _record_stable(step: Step, ctx: RolloutContext) -> None:
    assert isinstance(step, RecordStable)
    ctx.save(previous_revision=step.image)


def _apply(step: Step, ctx: RolloutContext) -> None:
    assert isinstance(step, Apply)
    ctx.before_change()
    try:
        apply_objects(ctx.client, ctx.objects)
    except ApplyError as exc:
        raise StepFailed("failed", str(exc)) from exc
    finally:
        ctx.applied = True
    ctx.deployment_exists = True


def _wait(step: Step, ctx: RolloutContext) -> None:
    assert isinstance(step, WaitForRollout)
    result, message, _ = ctx.watch(step.timeout, ctx.cancel)
    if result == "done":
        ctx.progress.line(f"rollout complete: {message}")
        return
    if result == "failed" and ctx.lock_lost is not None and ctx.lock_lost.is_set():
        raise StepFailed("lost", message)
    raise StepFailed(result, message)


def _record(step: Step, ctx: RolloutContext) -> None:
    assert isinstance(step, Record)
    phase: Phase = "Succeeded" if step.phase == "Succeeded" else "Failed"
    ctx.set_phase(phase, f"{ctx.record.revision} rolled out")


HANDLERS: dict[type[Step], Callable[[Step, RolloutContext], None]] = {
    RecordStable: _record_stable,
    Apply: _apply,
    WaitForRollout: _wait,
    Record: _record,
}


def execute(plan: Plan, ctx: RolloutContext) -> StateRecord:
    """Run every step; the state record is written after each. Raises StepFailed."""
    total = len(plan.steps)
    for number, step in enumerate(plan.steps, 1):
        if ctx.cancel.is_set():
            raise StepFailed("cancelled", ctx.cancel.reason or "cancelled")
        handler = HANDLERS.get(type(step))
        if handler is None:
            raise StepFailed("failed", f"step {step.name} is not supported by this version")
        ctx.progress.line(f"step {number}/{total}: {step.describe()}")
        try:
            if isinstance(step, Record):
                ctx.record = ctx.record.with_changes(step=f"{number}/{total} {step.name}")
            else:
                ctx.save(step=f"{number}/{total} {step.name}")
            handler(step, ctx)  # a Record step writes once, with its final phase
        except (ApiError, NetworkError, StateError) as exc:
            raise StepFailed("failed", f"step {step.name}: {exc}") from exc
    return ctx.record
