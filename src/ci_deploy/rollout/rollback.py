"""``rollback`` on demand: restore the recorded stable template, or a chosen revision."""

from __future__ import annotations

from dataclasses import dataclass

from ci_deploy.errors import DeploymentFailed, RollbackFailed, UserInputError
from ci_deploy.kube.cancel import CancelToken
from ci_deploy.kube.client import KubeClient
from ci_deploy.kube.errors import ApiError, NetworkError
from ci_deploy.kube.health import deadline_condition
from ci_deploy.kube.revisions import pod_template, restore_template, revisions, template_image
from ci_deploy.kube.state import StateRecord, StateStore, utc_now
from ci_deploy.kube.watch import RolloutOutcome, selector_text, wait_for_rollout
from ci_deploy.platforms import Platform
from ci_deploy.rollout.locking import deploy_lock
from ci_deploy.rollout.options import DeployOptions, cluster_session, load_environment
from ci_deploy.rollout.plan import Obj, Target
from ci_deploy.rollout.progress import Progress
from ci_deploy.rollout.report import outputs_of


@dataclass(frozen=True)
class RollbackChoice:
    """Which template to restore, and why."""

    template: Obj
    image: str
    why: str


def choose_template(
    record: StateRecord | None, deployment: Obj, history: list[tuple[int, str, Obj]], to: int | None
) -> RollbackChoice | None:
    """The template to restore (None: already there). Pure: history is (number, image, template)."""
    live = pod_template(deployment)
    if to is not None:
        for number, image, template in history:
            if number == to:
                return RollbackChoice(template, image, f"revision {to}")
        known = ", ".join(str(n) for n, _, _ in history) or "none"
        raise UserInputError(f"there is no revision {to}; known revisions: {known}")
    if record is not None and record.phase == "RolledBack":
        return None
    if record is not None and record.previous_template:
        return RollbackChoice(
            record.previous_template, record.previous_revision or "?", "the recorded stable one"
        )
    older = [h for h in history if h[2] != live]
    if not older:
        raise UserInputError("there is no previous revision to roll back to")
    number, image, template = older[-1]
    return RollbackChoice(template, image, f"revision {number} (the one before the live one)")


def rollback(
    opts: DeployOptions, to_revision: int | None, platform: Platform, cancel: CancelToken
) -> StateRecord | None:
    """Roll ``opts.environment`` back; returns the new record (None: nothing recorded)."""
    cfg, env = load_environment(opts)
    target = Target(cfg.app, env.name, env.namespace, env.strategy, "", (), "", opts.timeout)
    with cluster_session(opts, env.cluster) as client:
        progress = Progress(platform)
        try:
            return _rollback_locked(
                client, target, env.url, to_revision, opts, platform, cancel, progress
            )
        finally:
            progress.close()


def _rollback_locked(
    client: KubeClient,
    target: Target,
    environment_url: str | None,
    to_revision: int | None,
    opts: DeployOptions,
    platform: Platform,
    cancel: CancelToken,
    progress: Progress,
) -> StateRecord | None:
    """Under the lock: choose the template, restore it, record and report the result."""
    app, namespace = target.app, target.namespace
    with deploy_lock(client, target, opts, cancel, progress):
        store = StateStore(client, namespace, app)
        record, deployment = store.read()
        if deployment is None:
            raise UserInputError(f"there is no deployment {app} in {namespace}")
        history = [(r.number, r.image, r.template) for r in revisions(client, deployment)]
        choice = choose_template(record, deployment, history, to_revision)
        if choice is None:
            progress.line(f"{app} in {target.environment} is already rolled back; nothing to do")
            return record
        record, outcome = _restore(
            client, store, record, deployment, choice, target, opts, cancel, progress
        )
        platform.set_outputs(outputs_of(record, environment_url))
        if outcome.result == "cancelled":
            raise DeploymentFailed(f"rollback cancelled: {outcome.message}")
        if outcome.result != "done":
            raise RollbackFailed(
                record.message,
                hint=f"a human must act: kubectl -n {namespace} describe deployment {app}",
            )
        progress.line(f"rolled back to {choice.image}")
        return record


def _restore(
    client: KubeClient,
    store: StateStore,
    record: StateRecord | None,
    deployment: Obj,
    choice: RollbackChoice,
    target: Target,
    opts: DeployOptions,
    cancel: CancelToken,
    progress: Progress,
) -> tuple[StateRecord, RolloutOutcome]:
    """Restore ``choice``, wait for it, and record the result."""
    live_image = template_image(pod_template(deployment))
    where = f"{target.namespace}/{target.app}"
    progress.line(f"rolling back {where} to {choice.image} ({choice.why})")
    if record is None:
        record = StateRecord(
            target.app, target.environment, target.strategy, "Progressing", live_image
        )
    record = record.with_changes(
        phase="Progressing",
        step="rollback",
        revision=live_image,
        previous_revision=choice.image,
        previous_template=choice.template,
        finished_at=None,
        message=f"rollback on demand to {choice.image}",
    )
    store.write(record)
    stale = deadline_condition(deployment)
    try:
        restore_template(client, target.namespace, target.app, choice.template)
    except (ApiError, NetworkError) as exc:
        raise RollbackFailed(f"the rollback could not be applied: {exc}") from exc
    outcome = wait_for_rollout(
        client,
        target.namespace,
        target.app,
        selector_text(deployment),
        timeout=opts.timeout,
        cancel=cancel,
        on_progress=lambda s: progress.update(s.message),
        fail_fast_grace=opts.fail_fast_grace,
        stale_deadline=stale,
    )
    done = outcome.result == "done"
    message = (
        f"rolled back on demand to {choice.image}"
        if done
        else f"rollback to {choice.image} failed: {outcome.message}"
    )
    record = record.with_changes(
        phase="RolledBack" if done else "Failed", finished_at=utc_now(), message=message
    )
    store.write(record)
    return record, outcome
