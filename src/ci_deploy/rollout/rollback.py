"""``rollback`` on demand: restore the recorded stable template, or a revision ``status`` lists.

Everything that can be wrong with the input (the ``--to-revision`` value, the namespace, the
Deployment, which revision to restore) is found with reads before the lock is taken, so exit 2
changes nothing, not even the Lease. Under the lock the choice is made again: the cluster may
have moved while this rollback waited for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, NoReturn

from ci_deploy.errors import NothingChanged, RollbackFailed, UserInputError
from ci_deploy.kube.cancel import CancelToken
from ci_deploy.kube.client import DEPLOYMENT, KubeClient, Obj
from ci_deploy.kube.errors import ApiError, NetworkError
from ci_deploy.kube.health import deadline_condition
from ci_deploy.kube.revisions import pod_template, restore_template, template_image
from ci_deploy.kube.state import StateError, StateRecord, StateStore, utc_now
from ci_deploy.kube.watch import RolloutOutcome, selector_text, wait_for_rollout
from ci_deploy.platforms import Platform
from ci_deploy.rollout.locking import deploy_lock, namespace_exists
from ci_deploy.rollout.options import DeployOptions, cluster_session, load_environment
from ci_deploy.rollout.progress import Progress
from ci_deploy.rollout.report import outputs_of
from ci_deploy.rollout.status import (
    ON_DEMAND_STEP,
    RevisionRow,
    app_container,
    last_attempt,
    live_revision,
    read_revisions,
)

if TYPE_CHECKING:
    from ci_deploy.config import Config, EnvironmentConfig

Target = int | str  # a revision number as ``status`` lists it, or a complete image reference


@dataclass(frozen=True)
class RollbackChoice:
    """Which template to restore, and why."""

    template: Obj
    image: str
    why: str


@dataclass(frozen=True)
class NothingToDo:
    """The rollback asked for is already in place."""

    reason: str


@dataclass(frozen=True)
class RollbackResult:
    """The record after the rollback (None: nothing recorded) and its one-line summary."""

    record: StateRecord | None
    summary: str


@dataclass(frozen=True)
class Found:
    """What a rollback starts from, read from the cluster (reads only)."""

    store: StateStore
    record: StateRecord | None
    deployment: Obj
    container: str | None
    history: list[RevisionRow]


@dataclass(frozen=True)
class RollbackRun:
    """One rollback on demand: the app and environment, and the means to act and report."""

    client: KubeClient
    cfg: Config
    env: EnvironmentConfig
    opts: DeployOptions
    cancel: CancelToken
    progress: Progress


def parse_target(value: str | None, cfg: Config) -> Target | None:
    """``--to-revision``: a number that ``status`` lists, or an image (``repo:tag``, ``:TAG``,
    ``@sha256:…``, the last two completing ``image.repository``). Bad input: exit 2."""
    from ci_deploy.render.context import resolve_image

    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return int(text)
    try:
        return resolve_image(cfg, text)
    except UserInputError:
        raise UserInputError(
            f"--to-revision: {value!r} is neither a revision number from `ci-deploy status` "
            "nor a valid image reference",
            hint=f"pass a NUMBER that `ci-deploy status` lists, or an image: "
            f"{cfg.image.repository}:TAG, :TAG or @sha256:DIGEST",
        ) from None


def known_revisions(history: list[RevisionRow]) -> str:
    """``1 (repo:1.0.0), 2 (repo:2.0.0, live)`` for error messages."""
    return ", ".join(r.label() for r in history) or "none"


def chosen_revision(history: list[RevisionRow], to: Target) -> RevisionRow:
    """The revision numbered ``to``, or the newest that runs image ``to``; else exit 2."""
    if isinstance(to, int):
        matches = [r for r in history if r.number == to]
        missing = f"there is no revision {to}"
    else:
        matches = [r for r in history if r.image == to]
        missing = f"no revision runs {to}"
    if not matches:
        raise UserInputError(
            f"{missing}; the revisions are: {known_revisions(history)}",
            hint="`ci-deploy status` lists them; pass --to-revision NUMBER or IMAGE",
        )
    return max(matches, key=lambda r: r.number)


def choose_template(
    record: StateRecord | None, live: Obj, history: list[RevisionRow], to: Target | None
) -> RollbackChoice | NothingToDo:
    """The template to restore, or why there is nothing to do. Pure; exit 2 for bad choices.

    ``to`` picks a revision; without it: the stable template the record names, or after a
    rollback on demand that did not finish, the image it started from, or else the newest
    revision that is not live.
    """
    if to is not None:
        row = chosen_revision(history, to)
        if row.live or row.template == live:
            return NothingToDo(f"revision {row.number} ({row.image}) is already live")
        return RollbackChoice(row.template, row.image, f"revision {row.number}")
    if record is not None and record.phase == "RolledBack":
        return NothingToDo(f"already rolled back to {record.previous_revision}")
    attempt = last_attempt(record)
    older = [r for r in history if r.template != live and not r.live]
    if attempt is not None and attempt.kind == "rollback":
        # Its record names the target as previous: go back to where it started instead.
        started = [r for r in older if r.image == attempt.source]
        if started:
            row = started[-1]
            why = f"revision {row.number} (live before the unfinished rollback)"
            return RollbackChoice(row.template, row.image, why)
    elif record is not None and record.previous_template:
        return _recorded_stable(record, record.previous_template, live, history)
    if not older:
        raise UserInputError(
            "there is no previous revision to roll back to; the revisions are: "
            + known_revisions(history)
        )
    row = older[-1]
    return RollbackChoice(row.template, row.image, f"revision {row.number} (before the live one)")


def _recorded_stable(
    record: StateRecord, stable: Obj, live: Obj, history: list[RevisionRow]
) -> RollbackChoice | NothingToDo:
    """The stable template the record keeps (named by its revision when one matches)."""
    if stable == live:
        return NothingToDo(f"the recorded stable {record.previous_revision} is already live")
    same = [r.number for r in history if r.template == stable]
    number = f" (revision {same[-1]})" if same else ""
    image = record.previous_revision or "?"
    return RollbackChoice(stable, image, f"the recorded stable one{number}")


def find(client: KubeClient, cfg: Config, env: EnvironmentConfig) -> Found:
    """The namespace, the Deployment, its record and revisions; exit 2 when there is none."""
    app, namespace = cfg.app, env.namespace
    if not namespace_exists(client, namespace):
        raise UserInputError(
            f"there is no deployment {app} in namespace {namespace} (the namespace does not exist)",
            hint="check --env and --namespace; `ci-deploy status` shows what is deployed",
        )
    store = StateStore(client, namespace, app)
    record, deployment = store.read()
    if deployment is None:
        raise UserInputError(
            f"there is no deployment {app} in namespace {namespace}",
            hint=f"deploy it first (ci-deploy deploy --env {env.name} --image …), "
            "or check --env and --namespace",
        )
    container = app_container(record, cfg, pod_template(deployment))
    history = read_revisions(client, deployment, container)
    return Found(store, record, deployment, container, history)


def decide(found: Found, to: Target | None) -> RollbackChoice | NothingToDo:
    """:func:`choose_template` for what :func:`find` read."""
    return choose_template(found.record, pod_template(found.deployment), found.history, to)


def rollback(
    opts: DeployOptions, to_revision: str | None, platform: Platform, cancel: CancelToken
) -> RollbackResult:
    """Roll ``opts.environment`` back. Every input check (exit 2) comes before the lock."""
    cfg, env = load_environment(opts)
    to = parse_target(to_revision, cfg)
    with cluster_session(opts, env.cluster) as client:
        found = find(client, cfg, env)
        decision = decide(found, to)
        if isinstance(decision, NothingToDo):
            return RollbackResult(found.record, f"nothing to do: {decision.reason}")
        run = RollbackRun(client, cfg, env, opts, cancel, Progress(platform))
        try:
            return _rollback_locked(run, to, platform)
        finally:
            run.progress.close()


def _rollback_locked(run: RollbackRun, to: Target | None, platform: Platform) -> RollbackResult:
    """Under the lock: choose again, restore, record and report the result."""
    namespace, app = run.env.namespace, run.cfg.app
    with deploy_lock(run.client, namespace, app, run.opts, run.cancel, run.progress) as lock:
        try:
            found = find(run.client, run.cfg, run.env)
            decision = decide(found, to)
        except UserInputError as exc:
            raise NothingChanged(
                f"{exc.message} (the cluster changed while this rollback waited for the lock); "
                "nothing was changed",
                hint=exc.hint,
            ) from exc
        if isinstance(decision, NothingToDo):
            return RollbackResult(found.record, f"nothing to do: {decision.reason}")
        record, outcome = _restore(run, found, decision, lock.holder.url)
        platform.set_outputs(outputs_of(record, run.env.url))
        if outcome.result != "done":
            hint = f"a human must act: kubectl -n {namespace} rollout status deployment/{app}"
            raise RollbackFailed(record.message, hint=hint)
        number = f" (revision {record.deployment_revision})" if record.deployment_revision else ""
        return RollbackResult(
            record, f"RolledBack: {decision.image} is live in {run.env.name}{number}"
        )


def _restore(
    run: RollbackRun, found: Found, choice: RollbackChoice, run_url: str | None
) -> tuple[StateRecord, RolloutOutcome]:
    """Record the start, restore ``choice``, wait for it, and record how it ended."""
    env, deployment = run.env, found.deployment
    live_image = template_image(pod_template(deployment), found.container)
    run.progress.line(f"rolling back {env.namespace}/{run.cfg.app} to {choice.image}: {choice.why}")
    base = found.record or StateRecord(
        run.cfg.app, env.name, env.strategy, "Progressing", live_image
    )
    # Record semantics (kube/state.py): revision = rolled back from, previous = the target.
    record = base.with_changes(
        phase="Progressing",
        step=ON_DEMAND_STEP,
        revision=live_image,
        previous_revision=choice.image,
        previous_template=choice.template,
        container=found.container,
        run_url=run_url,
        started_at=utc_now(),
        finished_at=None,
        message=f"rollback on demand to {choice.image}",
    )
    try:
        found.store.write(record)
    except (ApiError, NetworkError, StateError) as exc:
        raise NothingChanged(f"could not record the rollback: {exc}; nothing was changed") from exc
    stale = deadline_condition(deployment)
    try:
        restore_template(run.client, env.namespace, run.cfg.app, choice.template)
    except (ApiError, NetworkError) as exc:
        _not_applied(run, found, record, choice, exc)
    try:
        outcome = _wait(run, deployment, stale)
        return _record_outcome(found.store, record, choice, outcome), outcome
    except (ApiError, NetworkError, StateError) as exc:
        raise RollbackFailed(
            f"the rollback to {choice.image} was applied, but its outcome is unknown: {exc}",
            hint=f"see what is live: ci-deploy status --env {env.name}",
        ) from exc


def _wait(run: RollbackRun, deployment: Obj, stale: Obj | None) -> RolloutOutcome:
    return wait_for_rollout(
        run.client,
        run.env.namespace,
        run.cfg.app,
        selector_text(deployment),
        timeout=run.opts.timeout,
        cancel=run.cancel,
        on_progress=lambda s: run.progress.update(s.message),
        fail_fast_grace=run.opts.fail_fast_grace,
        stale_deadline=stale,
    )


def _record_outcome(
    store: StateStore, record: StateRecord, choice: RollbackChoice, outcome: RolloutOutcome
) -> StateRecord:
    """RolledBack, Aborted (applied, not confirmed: cancelled) or Failed, with the new revision."""
    number = live_revision(outcome.deployment) if outcome.deployment is not None else None
    if outcome.result == "done":
        phase, message = "RolledBack", f"rolled back on demand to {choice.image}"
    elif outcome.result == "cancelled":
        phase = "Aborted"
        message = f"rollback to {choice.image} applied, not confirmed: {outcome.message}"
    else:
        phase, message = "Failed", f"rollback to {choice.image} failed: {outcome.message}"
    record = record.with_changes(
        phase=phase,
        finished_at=utc_now(),
        message=message,
        deployment_revision=str(number) if number is not None else record.deployment_revision,
    )
    store.write(record)
    return record


def _not_applied(
    run: RollbackRun, found: Found, record: StateRecord, choice: RollbackChoice, exc: Exception
) -> NoReturn:
    """The template could not be restored: exit 4 if the Deployment is as it was, else exit 3."""
    namespace, app = run.env.namespace, run.cfg.app
    failed = f"the rollback to {choice.image} could not be applied: {exc}"
    try:
        now = run.client.get_or_none(DEPLOYMENT.path(namespace, app))
        unchanged = now is not None and pod_template(now) == pod_template(found.deployment)
        if unchanged and found.record is not None:
            found.store.write(found.record)  # put the record back as it was: nothing changed
        else:
            found.store.write(
                record.with_changes(phase="Failed", finished_at=utc_now(), message=failed)
            )
    except (ApiError, NetworkError, StateError) as again:
        raise RollbackFailed(
            f"{failed}; the state of {namespace}/{app} could not be read back: {again}",
            hint=f"check it: kubectl -n {namespace} rollout history deployment/{app}",
        ) from exc
    if unchanged:
        raise NothingChanged(f"{failed}; the Deployment's pod template was not changed") from exc
    raise RollbackFailed(
        failed, hint=f"check it: kubectl -n {namespace} rollout history deployment/{app}"
    ) from exc
