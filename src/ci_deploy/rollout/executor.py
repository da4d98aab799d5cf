"""Runs a plan's steps one by one and records the state in the cluster after each.

Each step type has one handler, which uses what its step carries plus the shared session
(client, state store, progress). A handler that cannot finish raises ``StepFailed`` with a kind
(failed, timeout, cancelled, lost) that the caller turns into a recovery plan, run by this same
executor.

Recording is bookkeeping, except where a later run depends on it: the stable template must be
in the record before anything is changed (``record-stable`` fails the rollout if it cannot be
written). Every other write is best effort — a failed one is noted (``record_failures``) and
the outcome still says what the cluster is in; the next run reconciles the record from the
cluster. A record changed by another process always stops the rollout.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ci_deploy.kube.cancel import CancelToken
from ci_deploy.kube.changes import ApplyReport, ObjectChange, apply_tracked, restore_changes
from ci_deploy.kube.client import DEPLOYMENT, POD, REPLICASET, KubeClient
from ci_deploy.kube.errors import ApiError, NetworkError
from ci_deploy.kube.health import REVISION_ANNOTATION, deadline_condition
from ci_deploy.kube.revisions import restore_template
from ci_deploy.kube.state import Phase, StateConflict, StateError, StateRecord, StateStore, utc_now
from ci_deploy.kube.verify import running_mismatches
from ci_deploy.kube.watch import wait_for_rollout
from ci_deploy.rollout.plan import (
    Apply,
    Record,
    RecordStable,
    RemoveCreated,
    RestoreObjects,
    RestoreTemplate,
    Step,
    VerifyRunning,
    WaitForRollout,
)
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


@dataclass
class RolloutContext:
    """What the steps of one rollout share: the session, the record, what was applied."""

    client: KubeClient
    namespace: str
    deployment: str
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

    def save(self, *, strict: bool = False, **changes: Any) -> None:
        """Update the record and write it (once there is a Deployment to write it on).

        Not ``strict``: a write that fails (the API gave up) is noted in ``record_failures``
        and the rollout goes on; a record changed by another process always raises.
        """
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

    def before_change(self) -> None:
        """Note the Deployment's timed-out condition (if any) before we change its template."""
        current = self.client.get_or_none(DEPLOYMENT.path(self.namespace, self.deployment))
        self.stale_deadline = deadline_condition(current)


# -- handlers ---------------------------------------------------------------------------------
def _record_stable(step: Step, ctx: RolloutContext) -> None:
    assert isinstance(step, RecordStable)
    # The safety net of a killed job: without it no later run knows what to roll back to.
    ctx.save(strict=True, previous_revision=step.image)


def _apply(step: Step, ctx: RolloutContext) -> None:
    assert isinstance(step, Apply)
    report = apply_tracked(ctx.client, list(step.manifests))
    ctx.apply_report = report
    primary = next((c for c in report.changes if _is_primary(c, ctx)), None)
    # The Deployment as it was before the apply (read by it): its timed-out condition is stale.
    ctx.stale_deadline = deadline_condition(primary.before if primary else None)
    if primary is not None and primary.after is not None:
        ctx.deployment_exists = True
    if report.dry_run_refused:
        denied = [c.error.error for c in report.refused if c.error]
        if denied and all(e.refused_credentials for e in denied):
            # the user may not: say what, as the API said it (recovery: exit 4)
            raise StepFailed("forbidden", " and ".join(e.credentials_line() for e in denied))
        raise StepFailed("failed", f"the API server refused in a dry run: {report.summary()}")
    if report.refused or any(not c.known for c in report.changes):
        raise StepFailed("failed", f"applying failed: {report.summary()}")
    ctx.progress.line(f"applied: {report.summary()}")


def _is_primary(change: ObjectChange, ctx: RolloutContext) -> bool:
    return change.kind == DEPLOYMENT and change.name == ctx.deployment


def _wait(step: Step, ctx: RolloutContext) -> None:
    assert isinstance(step, WaitForRollout)
    outcome = wait_for_rollout(
        ctx.client,
        ctx.namespace,
        step.deployment,
        step.selector,
        timeout=step.timeout,
        cancel=ctx.cancel,
        on_progress=lambda s: ctx.progress.update(s.message),
        fail_fast_grace=ctx.fail_fast_grace,
        extra_stop=ctx.lock_lost,
        stale_deadline=ctx.stale_deadline,
    )
    if outcome.deployment is not None:
        revision = (outcome.deployment["metadata"].get("annotations") or {}).get(
            REVISION_ANNOTATION
        )
        if revision:
            ctx.record = ctx.record.with_changes(deployment_revision=str(revision))
    if outcome.result == "done":
        ctx.progress.line(f"rollout complete: {outcome.message}")
        return
    if outcome.result == "failed" and ctx.lock_lost is not None and ctx.lock_lost.is_set():
        raise StepFailed("lost", outcome.message)
    raise StepFailed(outcome.result, outcome.message)


def _verify(step: Step, ctx: RolloutContext) -> None:
    assert isinstance(step, VerifyRunning)
    deployment = ctx.client.get(DEPLOYMENT.path(ctx.namespace, step.deployment))
    query = [("labelSelector", step.selector)] if step.selector else None
    replicasets = ctx.client.get(REPLICASET.path(ctx.namespace), query).get("items") or []
    pods = ctx.client.get(POD.path(ctx.namespace), query).get("items") or []
    expected = dict(step.images)
    problems = running_mismatches(deployment, replicasets, pods, expected)
    if problems:
        raise StepFailed("failed", "what runs is not what was deployed: " + "; ".join(problems))
    shown = ", ".join(f"{c}={i}" for c, i in step.images)
    ctx.progress.line(f"verified: deployment/{step.deployment} and its Ready pods run {shown}")


def _record(step: Step, ctx: RolloutContext) -> None:
    assert isinstance(step, Record)
    phase: Phase = "Succeeded" if step.phase == "Succeeded" else "RolledBack"
    ctx.set_phase(phase, step.message or f"{ctx.record.revision} rolled out and verified")


def _restore_template(step: Step, ctx: RolloutContext) -> None:
    assert isinstance(step, RestoreTemplate)
    assert step.template is not None, "a restore step carries the template it restores"
    ctx.progress.line(f"rolling back {ctx.namespace}/{step.deployment} to {step.image}")
    ctx.before_change()
    restore_template(ctx.client, ctx.namespace, step.deployment, step.template)


def _restore_objects(step: Step, ctx: RolloutContext) -> None:
    assert isinstance(step, (RestoreObjects, RemoveCreated))
    result = restore_changes(ctx.client, step.changes)
    done = [f"deleted {r}" for r in result.deleted] + [f"restored {r}" for r in result.restored]
    if done:
        ctx.progress.line("; ".join(done))
    if result.failed:
        failed = "; ".join(f"{ref}: {error}" for ref, error in result.failed)
        raise StepFailed("failed", f"could not restore {failed}")
    if isinstance(step, RemoveCreated):
        ctx.deployment_exists = False  # the record went with the Deployment


HANDLERS: dict[type[Step], Callable[[Step, RolloutContext], None]] = {
    RecordStable: _record_stable,
    Apply: _apply,
    WaitForRollout: _wait,
    VerifyRunning: _verify,
    Record: _record,
    RestoreTemplate: _restore_template,
    RestoreObjects: _restore_objects,
    RemoveCreated: _restore_objects,
}


def execute(steps: tuple[Step, ...], ctx: RolloutContext, *, title: str = "step") -> StateRecord:
    """Run every step; the state record is written before each. Raises StepFailed."""
    total = len(steps)
    for number, step in enumerate(steps, 1):
        if ctx.cancel.is_set():
            raise StepFailed("cancelled", ctx.cancel.reason or "cancelled", step.name)
        handler = HANDLERS.get(type(step))
        if handler is None:
            raise StepFailed("failed", f"step {step.name} is not supported by this version")
        ctx.progress.line(f"{title} {number}/{total}: {step.name}")
        try:
            if isinstance(step, Record):  # it writes once, with its final phase
                ctx.record = ctx.record.with_changes(step=f"{number}/{total} {step.name}")
            else:
                ctx.save(step=f"{number}/{total} {step.name}")
            handler(step, ctx)
        except StepFailed as failure:
            failure.step = failure.step or step.name
            raise
        except StateConflict as exc:
            raise StepFailed("lost", f"step {step.name}: {exc}", step.name) from exc
        except ApiError as exc:
            if exc.refused_credentials:
                raise StepFailed("forbidden", exc.credentials_line(), step.name) from exc
            raise StepFailed("api", f"step {step.name}: {exc}", step.name) from exc
        except (NetworkError, StateError) as exc:
            raise StepFailed("api", f"step {step.name}: {exc}", step.name) from exc
    return ctx.record
