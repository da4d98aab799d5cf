"""After a failed step: undo what this run changed, or say exactly why not — and tell the truth.

``recovery_plan`` is pure: from the plan, the failure and what the apply step changed it makes
either a terminal outcome (nothing to undo, or undoing is not wanted) or the steps that undo the
run, run by the same executor as the rollout. Every way out raises the error whose exit code the
README documents for what the cluster is in:

- NothingChanged (4): the run failed before it changed anything;
- DeploymentFailed (1): what it changed was restored and verified (or left, as asked);
- RollbackFailed (3): a human must act — the message names the objects to look at.

Record writes here are best effort: a write that fails never replaces the outcome.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NoReturn

from ci_deploy.errors import CiDeployError, DeploymentFailed, NothingChanged, RollbackFailed
from ci_deploy.kube.cancel import CancelToken
from ci_deploy.kube.changes import ApplyReport, ObjectChange
from ci_deploy.kube.client import DEPLOYMENT
from ci_deploy.kube.state import Phase
from ci_deploy.rollout.executor import execute
from ci_deploy.rollout.hooks import pre_deploy_failed
from ci_deploy.rollout.options import DeployOptions
from ci_deploy.rollout.plan import Plan, rollback_steps
from ci_deploy.rollout.session import RolloutContext, StepFailed
from ci_deploy.rollout.steps import (
    Record,
    RemoveCreated,
    RestoreObjects,
    RestoreTemplate,
    Step,
    WaitForRestored,
    WaitForRollout,
)


@dataclass(frozen=True)
class Terminal:
    """No steps to run: record ``phase`` (when set) and raise ``error``."""

    phase: Phase | None
    error: CiDeployError


@dataclass(frozen=True)
class Recovery:
    """Steps that undo the run, and what to say when they succeed."""

    steps: tuple[Step, ...]
    done: str  # the message once restored and verified


def _primary(report: ApplyReport | None, plan: Plan) -> ObjectChange | None:
    if report is None:
        return None
    return next(
        (c for c in report.changes if c.kind == DEPLOYMENT and c.name == plan.target.deployment),
        None,
    )


def recovery_plan(
    plan: Plan, failure: StepFailed, report: ApplyReport | None, opts: DeployOptions
) -> Terminal | Recovery:
    """What to do after ``failure`` (pure): a terminal outcome, or the steps that undo the run."""
    t = plan.target
    app = f"{t.namespace}/{t.app}"
    reason = failure.message
    touched = report.touched if report is not None else []
    if failure.kind == "lost":
        return Terminal(
            None,
            DeploymentFailed(
                f"{reason}; another deploy took over {app}, so this one stops without rolling back"
            ),
        )
    if pre_deploy_failed(failure):
        return Terminal(
            "Aborted",
            DeploymentFailed(
                f"{reason}; the deploy stopped before any workload changed (the hook's Job is "
                "left for inspection)"
            ),
        )
    if plan.failure_paths:
        return _progressive(plan, failure, report, opts)
    if not touched:
        return Terminal("Aborted", NothingChanged(f"{reason}; nothing was changed"))
    unwanted = _not_wanted(failure, opts, app)
    if unwanted is not None:
        return unwanted
    if plan.previous_template is None:
        return _first_deploy(plan, failure, touched)
    primary = _primary(report, plan)
    others = tuple(c for c in touched if c is not primary)
    steps = rollback_steps(t, plan.previous_image, plan.previous_template, others)
    if primary is None or not primary.touched:  # the Deployment is as it was: leave it
        steps = tuple(s for s in steps if not isinstance(s, (RestoreTemplate, WaitForRollout)))
    if not others:
        steps = tuple(s for s in steps if not isinstance(s, (RestoreObjects, WaitForRestored)))
    restored = ", ".join(c.ref for c in touched)
    return Recovery(steps, f"{reason}; rolled back to {plan.previous_image} (restored: {restored})")


def _not_wanted(failure: StepFailed, opts: DeployOptions, app: str) -> Terminal | None:
    """The way out when undoing was not asked for (--no-rollback, --no-rollback-on-cancel)."""
    reason = failure.message
    cancelled = failure.kind == "cancelled"
    if cancelled and not opts.rollback_on_cancel:
        message = f"{reason}; {app} was left as is (--no-rollback-on-cancel)"
        return Terminal("Aborted", DeploymentFailed(message))
    if not cancelled and not opts.rollback:
        return Terminal("Failed", DeploymentFailed(f"{reason}; not rolled back (--no-rollback)"))
    return None


def _progressive(
    plan: Plan, failure: StepFailed, report: ApplyReport | None, opts: DeployOptions
) -> Terminal | Recovery:
    """A canary (or blue-green) that failed: its own undo path, before or after promotion.

    The plan's first failure path undoes a rollout whose stable version was never changed, the
    second one a rollout that had changed it; the objects the apply step changed go back too.
    """
    t = plan.target
    app = f"{t.namespace}/{t.app}"
    reason = failure.message
    touched = report.touched if report is not None else []
    promote_at = next(
        (i for i, s in enumerate(plan.steps, 1) if s.name == "promote"), len(plan.steps) + 1
    )
    apply_at = next((i for i, s in enumerate(plan.steps, 1) if s.name == "apply"), 0)
    if failure.number <= apply_at and not touched:
        return Terminal("Aborted", NothingChanged(f"{reason}; nothing was changed"))
    unwanted = _not_wanted(failure, opts, app)
    if unwanted is not None:
        return unwanted
    promoted = failure.number >= promote_at
    path = plan.failure_paths[1 if promoted else 0]
    steps = _with_restore(path.steps, touched, t.timeout if t.workloads else None, t.deployment)
    back = plan.previous_image or "the stable version"
    done = f"{reason}; rolled back: all traffic to {back}, the new version removed"
    if touched:
        done += f" (restored: {', '.join(c.ref for c in touched)})"
    return Recovery(steps, done)


def _with_restore(
    steps: tuple[Step, ...],
    touched: list[ObjectChange],
    wait: float | None = None,
    primary: str = "",
) -> tuple[Step, ...]:
    """The path with the objects the apply step changed put back: where the path has its
    ``RestoreObjects`` step (a strategy that must restore them late says so), else first;
    with ``wait`` (the app has other workloads), followed by the wait for them to roll back."""
    restore: tuple[Step, ...] = (RestoreObjects(tuple(c.ref for c in touched), tuple(touched)),)
    if wait is not None:
        restore += (WaitForRestored(wait, primary),)
    if any(isinstance(s, RestoreObjects) for s in steps):
        if not touched:
            return tuple(s for s in steps if not isinstance(s, RestoreObjects))
        out: list[Step] = []
        for s in steps:
            out += restore if isinstance(s, RestoreObjects) else (s,)
        return tuple(out)
    return (*restore, *steps) if touched else steps


def _first_deploy(
    plan: Plan, failure: StepFailed, touched: list[ObjectChange]
) -> Terminal | Recovery:
    t = plan.target
    refs = ", ".join(c.ref for c in touched)
    if failure.step == "apply":  # it never started: take away what it created
        steps = (RemoveCreated(tuple(c.ref for c in touched), tuple(touched)),)
        return Recovery(steps, f"{failure.message}; removed what this first deploy created: {refs}")
    if failure.kind in ("api", "forbidden"):
        todo = (
            f"the release may be fine, the API failed: check it (kubectl -n {t.namespace} get "
            f"deployment,pods -l app.kubernetes.io/name={t.app}), then deploy again"
        )
    else:
        todo = (
            f"fix the image and deploy again, or remove it: kubectl -n {t.namespace} delete "
            f"deployment {t.deployment}"
        )
    return Terminal(
        "Failed",
        RollbackFailed(
            f"the first deploy of {t.namespace}/{t.app} failed ({failure.message}) and there is no "
            f"previous revision to roll back to; left in place: {refs}",
            hint=f"a human must act: {todo}",
        ),
    )


def recover(
    ctx: RolloutContext,
    plan: Plan,
    failure: StepFailed,
    opts: DeployOptions,
    urgent: CancelToken,
) -> NoReturn:
    """Undo the run after ``failure`` (or say why not), record the result, raise the outcome."""
    reason = failure.message
    ctx.progress.line(f"rollout of {ctx.record.revision} stopped: {reason}")
    decision = recovery_plan(plan, failure, ctx.apply_report, opts)
    if isinstance(decision, Terminal):
        if decision.phase is not None:
            ctx.set_phase(decision.phase, decision.error.message)
        _raise(ctx, decision.error)
    cancelled = failure.kind == "cancelled"
    # The first signal stopped the rollout; only a second one (urgent) stops the undoing.
    ctx.cancel = urgent
    if cancelled:
        steps = tuple(
            _shorter_wait(s, min(opts.cancel_grace, opts.timeout)) for s in decision.steps
        )
    else:
        steps = decision.steps
    steps = tuple(
        Record("RolledBack", decision.done) if isinstance(s, Record) else s for s in steps
    )
    if not any(isinstance(s, Record) for s in steps):
        steps += (Record("RolledBack", decision.done),)
    ctx.record = ctx.record.with_changes(step="rollback", message=f"rolling back: {reason}")
    ctx.events.emit("rolling_back", ctx.record, message=reason)
    try:
        execute(steps, ctx, title="rollback step")
    except StepFailed as second:
        _rollback_failed(ctx, plan, failure, second)
    _raise(ctx, DeploymentFailed(decision.done))


def _shorter_wait(step: Step, seconds: float) -> Step:
    if isinstance(step, WaitForRollout):
        return WaitForRollout(step.deployment, seconds, step.selector)
    if isinstance(step, WaitForRestored):
        return WaitForRestored(seconds, step.primary)
    return step


def _rollback_failed(
    ctx: RolloutContext, plan: Plan, failure: StepFailed, second: StepFailed
) -> NoReturn:
    t = plan.target
    previous = plan.previous_image or "nothing"
    if second.kind == "cancelled":
        message = (
            f"{failure.message}; rollback to {previous} applied, not confirmed ({second.message})"
        )
        ctx.set_phase("Aborted", message)
        _raise(ctx, RollbackFailed(message, hint=_look_at(t.namespace, t.deployment, t.app, ctx)))
    message = f"{failure.message}; the rollback to {previous} failed too: {second.message}"
    ctx.set_phase("Failed", message)
    _raise(ctx, RollbackFailed(message, hint=_look_at(t.namespace, t.deployment, t.app, ctx)))


def _look_at(namespace: str, deployment: str, app: str, ctx: RolloutContext) -> str:
    touched = ctx.apply_report.touched if ctx.apply_report is not None else []
    objects = ", ".join(c.ref for c in touched) or f"Deployment {namespace}/{deployment}"
    return (
        f"a human must act: look at {objects} (kubectl -n {namespace} describe deployment "
        f"{deployment}; get pods -l app.kubernetes.io/name={app}); then deploy a known-good image"
    )


def _raise(ctx: RolloutContext, error: CiDeployError) -> NoReturn:
    """Raise ``error``, noting record writes that failed (the outcome itself stays true)."""
    if ctx.record_failures:
        note = (
            f"the state record could not be written ({ctx.record_failures[-1]}); it may show an "
            "older phase until the next ci-deploy run reconciles it from the cluster"
        )
        error.hint = f"{error.hint}; {note}" if error.hint else note
    raise error
