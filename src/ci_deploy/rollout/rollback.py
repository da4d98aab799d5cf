"""``rollback`` on demand: restore the recorded stable template, or a chosen revision."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

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
from ci_deploy.rollout.plan import Obj
from ci_deploy.rollout.progress import Progress
from ci_deploy.rollout.report import outputs_of

if TYPE_CHECKING:
    from ci_deploy.config import EnvironmentConfig


@dataclass(frozen=True)
class RollbackRun:
    """One rollback on demand: the app and environment, and the means to act and report."""

    client: KubeClient
    app: str
    env: EnvironmentConfig
    opts: DeployOptions
    cancel: CancelToken
    progress: Progress


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
    with cluster_session(opts, env.cluster) as client:
        run = RollbackRun(client, cfg.app, env, opts, cancel, Progress(platform))
        try:
            return _rollback_locked(run, to_revision, platform)
        finally:
            run.progress.close()


def _rollback_locked(
    run: RollbackRun, to_revision: int | None, platform: Platform
) -> StateRecord | None:
    """Under the lock: choose the template, restore it, record and report the result."""
    app, namespace = run.app, run.env.namespace
    with deploy_lock(run.client, namespace, app, run.opts, run.cancel, run.progress):
        store = StateStore(run.client, namespace, app)
        record, deployment = store.read()
        if deployment is None:
            raise UserInputError(f"there is no deployment {app} in {namespace}")
        history = [(r.number, r.image, r.template) for r in revisions(run.client, deployment)]
        choice = choose_template(record, deployment, history, to_revision)
        if choice is None:
            run.progress.line(f"{app} in {run.env.name} is already rolled back; nothing to do")
            return record
        record, outcome = _restore(run, store, record, deployment, choice)
        platform.set_outputs(outputs_of(record, run.env.url))
        if outcome.result == "cancelled":
            raise DeploymentFailed(f"rollback cancelled: {outcome.message}")
        if outcome.result != "done":
            raise RollbackFailed(
                record.message,
                hint=f"a human must act: kubectl -n {namespace} describe deployment {app}",
            )
        run.progress.line(f"rolled back to {choice.image}")
        return record


def _restore(
    run: RollbackRun,
    store: StateStore,
    record: StateRecord | None,
    deployment: Obj,
    choice: RollbackChoice,
) -> tuple[StateRecord, RolloutOutcome]:
    """Restore ``choice``, wait for it, and record the result."""
    app, env = run.app, run.env
    live_image = template_image(pod_template(deployment))
    run.progress.line(f"rolling back {env.namespace}/{app} to {choice.image} ({choice.why})")
    if record is None:
        record = StateRecord(app, env.name, env.strategy, "Progressing", live_image)
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
        restore_template(run.client, env.namespace, app, choice.template)
    except (ApiError, NetworkError) as exc:
        raise RollbackFailed(f"the rollback could not be applied: {exc}") from exc
    outcome = wait_for_rollout(
        run.client,
        env.namespace,
        app,
        selector_text(deployment),
        timeout=run.opts.timeout,
        cancel=run.cancel,
        on_progress=lambda s: run.progress.update(s.message),
        fail_fast_grace=run.opts.fail_fast_grace,
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
