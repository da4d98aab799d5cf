"""After a failed rollout step: roll back to the recorded stable template, or say why not.

Every way out raises: DeploymentFailed (exit 1: rolled back, or nothing to undo) or
RollbackFailed (exit 3: a human must act). The record is updated before each raise.
"""

from __future__ import annotations

from typing import Any, NoReturn

from ci_deploy.errors import DeploymentFailed, RollbackFailed
from ci_deploy.kube.cancel import CancelToken
from ci_deploy.kube.errors import ApiError, NetworkError
from ci_deploy.kube.revisions import restore_template
from ci_deploy.rollout.executor import RolloutContext, StepFailed
from ci_deploy.rollout.options import DeployOptions
from ci_deploy.rollout.plan import Plan

Obj = dict[str, Any]


def recover(
    ctx: RolloutContext,
    plan: Plan,
    failure: StepFailed,
    opts: DeployOptions,
    urgent: CancelToken,
) -> NoReturn:
    """Roll back to the recorded stable template (or raise why not), wait, record the result."""
    reason = failure.message
    ctx.progress.line(f"rollout of {ctx.record.revision} stopped: {reason}")
    template = _template_to_restore(ctx, plan, failure, opts)
    cancelled = failure.kind == "cancelled"
    previous = plan.previous_image
    _restore(ctx, template, reason, previous)
    timeout = min(opts.cancel_grace, opts.timeout) if cancelled else opts.timeout
    result, message, _ = ctx.watch(timeout, urgent if cancelled else ctx.cancel)
    if result == "done":
        ctx.set_phase("RolledBack", f"{reason}; rolled back to {previous}")
        raise DeploymentFailed(f"{reason}; rolled back to {previous}")
    if result == "cancelled" or (cancelled and result == "timeout"):
        ctx.set_phase("Aborted", f"{reason}; rollback to {previous} applied, not yet confirmed")
        raise DeploymentFailed(f"{reason}; rollback to {previous} applied, not yet confirmed")
    ctx.set_phase("Failed", f"{reason}; rollback to {previous} failed: {message}")
    raise RollbackFailed(
        f"{reason}; the rollback to {previous} failed too: {message}",
        hint=f"a human must act: kubectl -n {ctx.namespace} describe deployment {ctx.deployment}"
        f" and get pods -l app.kubernetes.io/name={ctx.deployment}; then deploy a known-good"
        " image",
    )


def _template_to_restore(
    ctx: RolloutContext, plan: Plan, failure: StepFailed, opts: DeployOptions
) -> Obj:
    """The stable template to restore; raises (recording why) when there is no rollback."""
    reason = failure.message
    app = f"{ctx.namespace}/{ctx.deployment}"
    if failure.kind == "lost":
        raise DeploymentFailed(
            f"{reason}; another deploy took over {app}, so this one stops without rolling back"
        )
    cancelled = failure.kind == "cancelled"
    if cancelled and not opts.rollback_on_cancel:
        ctx.set_phase("Aborted", f"{reason}; left as is (--no-rollback-on-cancel)")
        raise DeploymentFailed(f"{reason}; {app} was left as is (--no-rollback-on-cancel)")
    if not cancelled and not opts.rollback:
        ctx.set_phase("Failed", f"{reason}; not rolled back (--no-rollback)")
        raise DeploymentFailed(f"{reason}; not rolled back (--no-rollback)")
    if plan.previous_template is None and not ctx.deployment_exists:
        raise DeploymentFailed(f"{reason}; nothing was deployed (first deploy)")
    if plan.previous_template is None:
        ctx.set_phase("Failed", f"{reason}; first deploy, nothing to roll back to")
        raise RollbackFailed(
            f"the first deploy of {app} failed ({reason}) and there is no previous revision "
            "to roll back to",
            hint=f"fix the image and deploy again, or remove it: kubectl -n {ctx.namespace} "
            f"delete deployment {ctx.deployment}",
        )
    if not ctx.applied:
        ctx.set_phase("Failed" if not cancelled else "Aborted", f"{reason}; nothing was changed")
        raise DeploymentFailed(f"{reason}; nothing was changed")
    return plan.previous_template


def _restore(ctx: RolloutContext, template: Obj, reason: str, previous: str | None) -> None:
    """Record that the rollback starts and put the stable template back."""
    ctx.progress.line(f"rolling back {ctx.namespace}/{ctx.deployment} to {previous}")
    ctx.save(step="rollback", message=f"rolling back: {reason}")
    try:
        ctx.before_change()
        restore_template(ctx.client, ctx.namespace, ctx.deployment, template)
    except (ApiError, NetworkError) as exc:
        ctx.set_phase("Failed", f"{reason}; rollback could not be applied: {exc}")
        raise RollbackFailed(
            f"{reason}; the rollback to {previous} could not be applied: {exc}",
            hint=f"restore it by hand: kubectl -n {ctx.namespace} rollout history "
            f"deployment/{ctx.deployment}, then rollout undo --to-revision=N",
        ) from exc
