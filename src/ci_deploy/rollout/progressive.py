"""``promote`` and ``abort``: continue or undo a paused progressive rollout, from the cluster.

Neither needs the manifests or the image again: the rollout's parameters are in the state record
(``record.plan``), written when it started. ``promote`` rebuilds the same steps and continues
after the recorded gate (with ``--full`` the remaining gates pass); ``abort`` runs the strategy's
abort plan (all traffic to stable, the new version removed) and records ``Aborted``. Both take
the deploy lock and run on the same executor, with the same lifecycle events, as ``deploy``.
An abort that fails (exit 3) records ``Failed`` at the rollout's own step, plan kept, so the
``abort`` its hint advises takes it up again once the cause is gone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ci_deploy.errors import UserInputError
from ci_deploy.kube.cancel import CancelToken
from ci_deploy.kube.client import KubeClient
from ci_deploy.kube.state import StateRecord, StateStore
from ci_deploy.lifecycle import Events, RequiredListenerFailed, outcome_kind
from ci_deploy.platforms import Platform
from ci_deploy.rollout.executor import execute
from ci_deploy.rollout.locking import deploy_lock
from ci_deploy.rollout.options import DeployOptions, cluster_session, load_environment
from ci_deploy.rollout.plan import (
    FailurePath,
    Observed,
    Plan,
    recorded_target,
    resumed_plan,
)
from ci_deploy.rollout.progress import Progress
from ci_deploy.rollout.recorded import ABORT_STEP, ABORTED_AT, recorded_number, rollout_step
from ci_deploy.rollout.recover import recover
from ci_deploy.rollout.report import tell_outcome, verb_events
from ci_deploy.rollout.session import RolloutContext, RolloutPaused, StepFailed
from ci_deploy.rollout.steps import Step

if TYPE_CHECKING:
    from ci_deploy.config import EnvironmentConfig
    from ci_deploy.rollout.strategies import ProgressiveStrategy


@dataclass(frozen=True)
class Outcome:
    """What a verb leaves: the record, and one line for people."""

    record: StateRecord
    summary: str


def _progressive(record: StateRecord) -> ProgressiveStrategy:
    from ci_deploy.rollout.strategies import ProgressiveStrategy, strategy_for

    strategy = strategy_for(record.strategy)
    assert isinstance(strategy, ProgressiveStrategy)
    return strategy


def _in_progress(
    record: StateRecord | None, env: str, verb: str, observed: Observed
) -> StateRecord:
    """The record of a progressive rollout that ``verb`` can act on (else exit 2)."""
    if record is None:
        raise UserInputError(f"nothing to {verb} in {env}: no rollout is recorded there")
    in_flight = record.phase in ("Paused", "Progressing") or _left_failed(record, verb, observed)
    if not record.plan or not in_flight:
        raise UserInputError(
            f"nothing to {verb} in {env}: the last rollout ({record.revision}, strategy "
            f"{record.strategy}) is {record.phase}",
            hint="`ci-deploy status --env " + env + "` shows it",
        )
    return record


def _left_failed(record: StateRecord, verb: str, observed: Observed) -> bool:
    """A ``Failed`` rollout that ``abort`` takes up again: one left at a step of its own plan
    (a failed abort, or abort-first, records it so), its new version maybe still there. A
    failed rollback records a step of the rollback's plan instead: not taken up here."""
    if verb != "abort" or record.phase != "Failed" or not record.plan:
        return False
    steps = _progressive(record).resume_steps(record, observed)
    number = recorded_number(record)
    if not 0 < number <= len(steps):
        return False
    return record.step == f"{number}/{len(steps)} {steps[number - 1].name}"


def promote(
    opts: DeployOptions, full: bool, platform: Platform, cancel: CancelToken, urgent: CancelToken
) -> Outcome:
    """Continue the paused rollout of ``opts.environment`` after its gate."""
    return _run(opts, platform, cancel, urgent, verb="promote", full=full)


def abort(
    opts: DeployOptions, platform: Platform, cancel: CancelToken, urgent: CancelToken
) -> Outcome:
    """Undo the rollout in progress: all traffic to stable, the new version removed."""
    return _run(opts, platform, cancel, urgent, verb="abort", full=False)


def plan_of(
    observed: Observed,
    env: EnvironmentConfig,
    verb: str,
    timeout: float,
    prune: bool = True,
    primary: str = "",
) -> Plan:
    """The plan ``promote`` or ``abort`` runs, from the record alone (pure); ``primary``: the
    Deployment the record lives on (manifests.primary), when not the app-named one."""
    record = _in_progress(observed.record, env.name, verb, observed)
    strategy = _progressive(record)
    target = recorded_target(record, timeout=timeout, namespace=env.namespace, primary=primary)
    if verb == "abort":
        steps: tuple[Step, ...] = tuple(strategy.abort_steps(record, observed))
        stop = FailurePath("if a step fails: stop and say what is left; a human must act (exit 3)")
        return resumed_plan(target, record, steps, (stop,), start=1)
    if record.phase != "Paused":
        raise UserInputError(
            f"nothing to promote in {env.name}: the rollout of {record.revision} is "
            f"{record.phase} at step {record.step}, not paused",
            hint="promote continues a paused rollout; a running one goes on by itself",
        )
    from ci_deploy.rollout.prune import with_pruning

    return with_pruning(strategy.resume_plan(record, observed, target), enabled=prune)


def _run(
    opts: DeployOptions,
    platform: Platform,
    cancel: CancelToken,
    urgent: CancelToken,
    *,
    verb: str,
    full: bool,
) -> Outcome:
    from ci_deploy.rollout.deploy import observe

    cfg, env = load_environment(opts)
    with cluster_session(opts, env.cluster) as client:
        primary = cfg.primary
        observed, _ = observe(client, env.namespace, cfg.app, primary=primary)
        # exit 2 before the lock if there is nothing to do
        plan_of(observed, env, verb, opts.timeout, opts.prune, primary)
        progress = Progress(platform)
        try:
            with deploy_lock(client, env.namespace, cfg.app, opts, cancel, progress) as lock:
                observed, store = observe(client, env.namespace, cfg.app, primary=primary)
                plan = plan_of(observed, env, verb, opts.timeout, opts.prune, primary)
                session = Session(client, store, progress, platform, cancel, urgent, lock.lost)
                events = verb_events(cfg, env.name, env.url, platform, verb)
                return _execute(
                    opts, plan, observed, session, env.url, events, verb=verb, full=full
                )
        finally:
            progress.close()


@dataclass(frozen=True)
class Session:
    """What a verb run holds: the cluster, the record's store, output, the lock's signals."""

    client: KubeClient
    store: StateStore
    progress: Progress
    platform: Platform
    cancel: CancelToken
    urgent: CancelToken
    lock_lost: CancelToken


def _execute(
    opts: DeployOptions,
    plan: Plan,
    observed: Observed,
    session: Session,
    url: str | None,
    events: Events,
    *,
    verb: str,
    full: bool,
) -> Outcome:
    client, store, progress, platform = (
        session.client,
        session.store,
        session.progress,
        session.platform,
    )
    cancel, urgent, lock_lost = session.cancel, session.urgent, session.lock_lost
    record = observed.record
    assert record is not None
    started = record.with_changes(phase="Progressing", message=f"{verb} of {record.revision}")
    at = rollout_step(record)  # the rollout's own step, also when an earlier abort was killed
    if verb == "abort" and record.plan is not None:
        # The abort records its own steps ("abort 2/5 remove-canary"); the rollout's stays in
        # the plan, so that an abort killed mid-run is still read at the rollout's step.
        started = started.with_changes(plan={**record.plan, ABORTED_AT: at})
    ctx = RolloutContext(
        client=client,
        namespace=plan.target.namespace,
        store=store,
        record=started,
        progress=progress,
        cancel=cancel,
        lock_lost=lock_lost,
        fail_fast_grace=opts.fail_fast_grace,
        deployment_exists=True,
        events=events,
        skip_pauses=full,
    )
    with progress.group("Plan"):
        for line in plan.render().splitlines():
            progress.line(line)
    error: BaseException | None = None
    told: StateRecord | None = ctx.record
    try:
        try:
            events.emit("resumed" if verb == "promote" else "started", ctx.record)
        except RequiredListenerFailed:
            told = None  # nothing was changed: no outcome to tell
            raise
        try:
            with progress.group(f"{verb.title()} of {record.revision}"):
                done = execute(
                    plan.steps,
                    ctx,
                    start=plan.start,
                    title=f"{verb} step",
                    record_as=ABORT_STEP if verb == "abort" else "",
                )
        except RolloutPaused as paused:
            return Outcome(ctx.record, f"Paused: {paused.message}")
        except StepFailed as failure:
            if verb == "abort":
                raise _abort_failed(ctx, plan, failure, at) from failure
            with progress.group("Recovery"):
                recover(ctx, plan, failure, opts, urgent)
        if verb == "abort":
            return Outcome(done, f"Aborted: {done.message.removeprefix('aborted: ')}")
        return Outcome(done, f"{done.phase}: {done.revision} in {done.environment}")
    except BaseException as exc:
        error = exc
        raise
    finally:
        if told is not None:
            tell_outcome(
                events, outcome_kind(ctx.record, error), ctx.record, ctx, platform, verb, error
            )


def _abort_failed(
    ctx: RolloutContext, plan: Plan, failure: StepFailed, rollout_step: str
) -> Exception:
    """Record ``Failed`` at the rollout's own step (``rollout_step``, not the abort's): the
    abort run again, as the hint says, plans the same undo from it (``_left_failed``)."""
    from ci_deploy.errors import RollbackFailed

    t = plan.target
    message = (
        f"abort of {t.image} in {t.environment} failed at step {failure.step}: {failure.message}"
    )
    plan_doc = {k: v for k, v in (ctx.record.plan or {}).items() if k != ABORTED_AT}
    ctx.record = ctx.record.with_changes(step=rollout_step, plan=plan_doc or None)
    ctx.set_phase("Failed", message)
    return RollbackFailed(
        message,
        hint=(
            f"a human must act: kubectl -n {t.namespace} get deployment,service,ingress,httproute "
            f"-l app.kubernetes.io/name={t.app}; then run `ci-deploy abort --env {t.environment}` "
            "again"
        ),
    )
