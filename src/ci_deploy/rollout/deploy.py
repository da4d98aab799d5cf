"""``deploy`` end to end: validate and render, lock, observe, plan, execute, recover, report.

Everything that can be wrong with the input (configuration, environment, image, templates, a
missing namespace) is found before the lock is taken or the cluster is changed (exit 2).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ci_deploy.errors import NothingChanged, RollbackFailed
from ci_deploy.kube.cancel import CancelToken
from ci_deploy.kube.changes import dry_run as dry_run_objects
from ci_deploy.kube.client import DEPLOYMENT, KubeClient
from ci_deploy.kube.errors import ApiError, NetworkError
from ci_deploy.kube.health import WaitingTracker, assess
from ci_deploy.kube.revisions import pod_template, template_image
from ci_deploy.kube.state import StateError, StateRecord, StateStore
from ci_deploy.kube.watch import selector_text
from ci_deploy.lifecycle import Events, RequiredListenerFailed, outcome_kind
from ci_deploy.platforms import Platform
from ci_deploy.rollout.executor import execute
from ci_deploy.rollout.labels import COLOR_LABEL, TRACK_LABEL
from ci_deploy.rollout.locking import deploy_lock, ensure_namespace, require_namespace
from ci_deploy.rollout.options import (
    DeployOptions,
    check_time_scale,
    cluster_session,
    load_environment,
)
from ci_deploy.rollout.plan import (
    Observed,
    Plan,
    StrategySettings,
    Target,
    Workload,
    make_plan,
    manifests_digest,
)
from ci_deploy.rollout.progress import Progress
from ci_deploy.rollout.reconcile import reconciled
from ci_deploy.rollout.recorded import ABORT_STEP, ABORTED_AT, rollout_step
from ci_deploy.rollout.recover import recover
from ci_deploy.rollout.report import JobReport, tell_outcome, verb_events
from ci_deploy.rollout.session import RolloutContext, RolloutPaused, StepFailed
from ci_deploy.rollout.strategies import strategy_for

if TYPE_CHECKING:
    from ci_deploy.analysis.spec import AnalysisSpec
    from ci_deploy.config import Config, EnvironmentConfig
    from ci_deploy.rollout.diff import Changes

Obj = dict[str, Any]


@dataclass(frozen=True)
class Prepared:
    """Validated config and rendered objects: nothing touched the cluster yet."""

    target: Target
    objects: list[Obj]
    warning: str | None = None  # about the image (tag-less, :latest)
    config: Config | None = None  # what notifications go where


def prepare(opts: DeployOptions, cfg: Config, env: EnvironmentConfig, live: str | None) -> Prepared:
    """Render and validate for ``env`` of ``cfg`` (exit 2 on any error); no cluster access.

    The image is ``--image``, else ``live`` (the image running now: a redeploy).
    """
    from ci_deploy.kube.applyset import ApplySet, with_membership
    from ci_deploy.kube.jobs import helm_hook_skipped, hook_of
    from ci_deploy.kube.workloads import is_workload, workload_ref
    from ci_deploy.render import render_objects
    from ci_deploy.render.context import choose_image
    from ci_deploy.render.manifests import app_container_name

    strategy = strategy_for(env.strategy)  # one this version cannot run: bad input, early
    chosen = choose_image(cfg, env, opts.image, live)
    rendered = render_objects(cfg, env.name, image=chosen.image)
    hooks = tuple(item.obj for item in rendered if hook_of(item.obj) is not None)
    # members of the app's ApplySet: what a later deploy prunes once they are not rendered
    # (hook Jobs are not: they are run around the rollout, never applied with it or pruned;
    # a chart's test, delete and rollback hooks are not applied at all)
    objects = with_membership(
        (
            item.obj
            for item in rendered
            if hook_of(item.obj) is None and not helm_hook_skipped(item.obj)
        ),
        ApplySet(cfg.app, env.namespace),
    )
    primary = next(
        o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == cfg.primary
    )
    workloads = tuple(workload_ref(o) for o in objects if is_workload(o) and o is not primary)
    pod = (primary.get("spec") or {}).get("template") or {}
    images = tuple(
        (str(c.get("name")), str(c.get("image", "")))
        for c in (pod.get("spec") or {}).get("containers") or []
    )
    target = Target(
        app=cfg.app,
        environment=env.name,
        namespace=env.namespace,
        strategy=env.strategy,
        image=chosen.image,
        objects=tuple(f"{o['kind']} {o['metadata']['name']}" for o in objects),
        manifests_digest=manifests_digest([*objects, *hooks]),
        timeout=opts.timeout,
        environment_url=env.url,
        container=app_container_name(cfg, objects, chosen.image),
        images=images,
        selector=selector_text(primary),
        manifests=tuple(objects),
        replicas=env.replicas,
        settings=strategy_settings(cfg, env.strategy),
        time_scale=opts.time_scale,
        analysis=analysis_of(cfg, env),
        image_set=tuple(done.describe() for item in rendered for done in item.substitutions),
        prune=opts.prune,
        workloads=workloads,
        hooks=hooks,
        primary=cfg.manifests.primary or "",
    )
    strategy.validate(target)
    return Prepared(target, objects, chosen.warning, cfg)


def analysis_of(cfg: Config, env: EnvironmentConfig) -> AnalysisSpec | None:
    """How a rollout of ``env`` is judged (exit 2 for rules with nothing to measure them):
    a canary by its metric rules and smoke checks, blue-green by its smoke checks and its
    rollback triggers (after the switch)."""
    if env.strategy not in ("canary", "blue_green"):
        return None
    from pathlib import Path

    from ci_deploy.analysis.spec import analysis_for

    return analysis_for(
        cfg.analysis,
        cfg.canary if env.strategy == "canary" else None,
        app=cfg.app,
        namespace=env.namespace,
        environment=env.name,
        root=str(Path(cfg.source).resolve().parent),
        url=env.url,
        blue_green=cfg.blue_green if env.strategy == "blue_green" else None,
    )


def strategy_settings(cfg: Config, strategy: str) -> StrategySettings | None:
    """The block of ci-deploy.yml that configures ``strategy`` (None: not written)."""
    if strategy == "canary":
        return cfg.canary
    if strategy == "blue_green":
        return cfg.blue_green
    return cfg.rolling


def workloads_of(
    client: KubeClient, namespace: str, app: str, primary: str | None = None
) -> tuple[Workload, ...]:
    """Every Deployment of ``app`` (label app.kubernetes.io/name), the primary (``primary``,
    else the app-named one) first."""
    from ci_deploy.render.context import LABEL_NAME

    primary = primary or app
    query = [("labelSelector", f"{LABEL_NAME}={app}")]
    items = client.get(DEPLOYMENT.path(namespace), query).get("items") or []
    found = []
    for item in items:
        meta, spec = item["metadata"], item.get("spec") or {}
        labels = meta.get("labels") or {}
        name = str(meta["name"])
        found.append(
            Workload(
                name=name,
                track=str(labels.get(TRACK_LABEL) or ("stable" if name == primary else "unknown")),
                color=labels.get(COLOR_LABEL),
                replicas=int(spec.get("replicas", 1)),
                ready=int((item.get("status") or {}).get("readyReplicas") or 0),
                template=pod_template(item),
            )
        )
    return tuple(sorted(found, key=lambda w: (w.name != primary, w.name)))


def observe(
    client: KubeClient,
    namespace: str,
    app: str,
    container: str | None = None,
    *,
    primary: str | None = None,
) -> tuple[Observed, StateStore]:
    """The app's Deployments and its state record, on the primary Deployment (``primary``, else
    the app-named one), reconciled when a run left it Progressing."""
    store = StateStore(client, namespace, primary or app)
    record, deployment = store.read()
    if deployment is None:
        return Observed(deployment_exists=False, record=record), store
    template = pod_template(deployment)
    healthy = assess(deployment, [], [], WaitingTracker(), 0.0).done
    fixed = reconciled(record, deployment, healthy)
    observed = Observed(
        deployment_exists=True,
        live_template=template,
        live_image=template_image(template, container or (record.container if record else None)),
        live_healthy=healthy,
        record=fixed or record,
        reconciled=fixed is not None,
        # the Deployments that carry the primary's name label: a canary, a colour (a chart
        # names its Deployment after itself, not after the app)
        workloads=workloads_of(client, namespace, _name_label(deployment, app), primary),
    )
    return observed, store


def _name_label(deployment: Obj, app: str) -> str:
    from ci_deploy.render.context import LABEL_NAME

    labels = (deployment.get("metadata") or {}).get("labels") or {}
    return str(labels.get(LABEL_NAME) or app)


def printed_plan(plan: Plan, client: KubeClient) -> Plan:
    """``plan`` with what its prune step would delete, when the cluster says (else unsaid)."""
    from ci_deploy.rollout.prune import with_candidates

    try:
        return with_candidates(plan, client)
    except (ApiError, NetworkError):
        return plan


def _prepared(
    opts: DeployOptions,
    cfg: Config,
    env: EnvironmentConfig,
    client: KubeClient,
    early: Prepared | None,
) -> Prepared:
    """``early`` (made before the cluster was asked, when --image was given), else a redeploy
    of the image live now."""
    if early is not None:
        return early
    observed, _ = observe(client, env.namespace, cfg.app, primary=cfg.primary)
    return prepare(opts, cfg, env, observed.live_image)


def _prepare_early(opts: DeployOptions, cfg: Config, env: EnvironmentConfig) -> Prepared | None:
    """With --image, everything is validated and rendered before the cluster is asked."""
    return prepare(opts, cfg, env, None) if opts.image is not None else None


def build_plan(opts: DeployOptions) -> tuple[Plan, Prepared]:
    """What ``plan`` prints: the same function ``deploy`` runs, without taking the lock, with
    the summary of what its apply and prune steps would change."""
    from ci_deploy.rollout.diff import with_changes

    plan, prepared, changes = build_diff(opts)
    return with_changes(plan, changes), prepared


def build_diff(opts: DeployOptions) -> tuple[Plan, Prepared, Changes]:
    """The plan of a deploy and what it would change, object by object (``ci-deploy diff``)."""
    from ci_deploy.rollout.diff import plan_changes

    cfg, env = load_environment(opts)
    early = _prepare_early(opts, cfg, env)
    with cluster_session(opts, env.cluster) as client:
        check_time_scale(client, opts)
        prepared = _prepared(opts, cfg, env, client, early)
        observed, _ = observe(
            client, env.namespace, cfg.app, prepared.target.container, primary=cfg.primary
        )
        plan = printed_plan(make_plan(prepared.target, observed), client)
        missing = require_namespace(client, env.namespace, may_create=env.create_namespace)
        changes = plan_changes(client, plan, namespace_missing=missing)
    return plan, prepared, changes


def dry_run(opts: DeployOptions, platform: Platform) -> Plan:
    """Print the plan and have the API server validate every object (dryRun=All); no change."""
    cfg, env = load_environment(opts)
    early = _prepare_early(opts, cfg, env)
    with cluster_session(opts, env.cluster) as client:
        prepared = _prepared(opts, cfg, env, client, early)
        t = prepared.target
        observed, _ = observe(client, t.namespace, t.app, t.container, primary=t.deployment)
        plan = printed_plan(make_plan(t, observed), client)
        for line in plan.render().splitlines():
            platform.log(line)
        if require_namespace(client, t.namespace, may_create=env.create_namespace):
            platform.log(
                f"dry run: namespace {t.namespace} does not exist yet (a deploy creates it); "
                "the objects were validated offline only"
            )
            return plan
        refused = dry_run_objects(client, prepared.objects, "ci-deploy")
        if refused:
            raise NothingChanged("dry run: the API server refused " + "; ".join(map(str, refused)))
        platform.log(
            f"dry run: the API server accepted all {len(prepared.objects)} objects; "
            "nothing was changed"
        )
        return plan


def deploy(
    opts: DeployOptions,
    platform: Platform,
    cancel: CancelToken,
    urgent: CancelToken,
) -> StateRecord:
    """Run a deploy; returns the final record or raises (exit codes: README)."""
    cfg, env = load_environment(opts)
    early = _prepare_early(opts, cfg, env)
    with cluster_session(opts, env.cluster) as client:
        check_time_scale(client, opts)
        prepared = _prepared(opts, cfg, env, client, early)
        if prepared.warning:
            platform.warning(prepared.warning)
        created = require_namespace(client, env.namespace, may_create=env.create_namespace)
        if created:
            platform.log(f"creating namespace {env.namespace} (create_namespace: true)")
            try:
                ensure_namespace(client, env.namespace)
            except (ApiError, NetworkError) as exc:
                raise NothingChanged(
                    f"could not create namespace {env.namespace}: {exc} (it may exist now; "
                    "nothing else was changed)"
                ) from exc
        progress = Progress(platform)
        try:
            return _deploy_locked(opts, prepared, client, platform, progress, cancel, urgent)
        except NothingChanged as exc:
            if created:  # say so: "nothing" would not be the whole truth
                exc.message += f" (namespace {env.namespace} was created for it and is left)"
            raise
        finally:
            progress.close()


def start_record(t: Target, plan: Plan, observed: Observed, run_url: str | None) -> StateRecord:
    """The record of a rollout that is about to start."""
    return StateRecord(
        app=t.app,
        environment=t.environment,
        strategy=t.strategy,
        phase="Progressing",
        revision=t.image,
        previous_revision=plan.previous_image,
        previous_template=plan.previous_template,
        manifests_digest=t.manifests_digest,
        container=t.container,
        run_url=run_url,
        status_ids=dict(observed.record.status_ids) if observed.record else {},
    )


def _deploy_locked(
    opts: DeployOptions,
    prepared: Prepared,
    client: KubeClient,
    platform: Platform,
    progress: Progress,
    cancel: CancelToken,
    urgent: CancelToken,
) -> StateRecord:
    """Under the lock: observe, plan, execute (or recover); outputs reflect the last record."""
    t = prepared.target
    record: StateRecord | None = None
    ctx: RolloutContext | None = None
    events = (
        verb_events(prepared.config, t.environment, t.environment_url, platform, "deploy")
        if prepared.config is not None
        else Events()
    )
    if prepared.config is None:
        events.subscribe(JobReport(platform, t.environment_url))
    unchanged = False
    error: BaseException | None = None
    try:
        with deploy_lock(client, t.namespace, t.app, opts, cancel, progress) as lock:
            observed, store = observe(client, t.namespace, t.app, t.container, primary=t.deployment)
            _save_reconciled(store, observed, progress)
            plan = printed_plan(make_plan(t, observed), client)
            with progress.group("Plan"):
                for line in plan.render().splitlines():
                    progress.line(line)
            if plan.noop_reason:
                record = observed.record
                assert record is not None
                unchanged = True
                return record
            ctx = RolloutContext(
                client=client,
                namespace=t.namespace,
                store=store,
                record=start_record(t, plan, observed, lock.holder.url),
                progress=progress,
                cancel=cancel,
                lock_lost=lock.lost,
                fail_fast_grace=opts.fail_fast_grace,
                deployment_exists=observed.deployment_exists,
                events=events,
                skip_pauses=opts.no_pause,
            )
            try:
                events.emit("started", ctx.record, message=f"rollout of {t.image} started")
            except RequiredListenerFailed:
                ctx, record, unchanged = None, observed.record, True  # nothing was changed
                raise
            return _execute_or_recover(plan, ctx, opts, urgent, observed.record)
    except BaseException as exc:
        error = exc
        raise
    finally:
        if ctx is not None:
            record = ctx.record
        if record is not None:  # the outcome, told once: job outputs and summary listen here
            kind = outcome_kind(record, error, unchanged=unchanged)
            tell_outcome(events, kind, record, ctx, platform, "rollout", error)


def _save_reconciled(store: StateStore, observed: Observed, progress: Progress) -> None:
    """Write a record that reconciliation corrected (best effort: the plan uses it anyway)."""
    record = observed.record
    if record is None or not observed.reconciled:
        return
    progress.line(f"state record: {record.message} (phase {record.phase})")
    try:
        store.write(record)
    except (ApiError, NetworkError, StateError) as exc:  # bookkeeping; the rollout goes on
        progress.line(f"could not write the reconciled record: {exc}")


def _execute_or_recover(
    plan: Plan,
    ctx: RolloutContext,
    opts: DeployOptions,
    urgent: CancelToken,
    in_flight: StateRecord | None,
) -> StateRecord:
    """Execute the plan; after a failed step, recover (which always raises). ``in_flight``:
    the record of the rollout that ``plan.prelude`` aborts first."""
    if plan.prelude:
        _abort_in_flight(plan, ctx, in_flight)
    try:
        with ctx.progress.group(f"Rollout of {plan.target.image}"):
            if plan.hooks:
                execute(plan.hooks, ctx, title="pre-deploy hook")
            record = execute(plan.steps, ctx, start=plan.start)
    except RolloutPaused as paused:
        ctx.progress.line(paused.message)
        return ctx.record
    except StepFailed as failure:
        with ctx.progress.group("Recovery"):
            recover(ctx, plan, failure, opts, urgent)
    if ctx.record_failures:
        ctx.progress.platform.warning(
            f"{record.revision} is live and verified, but the state record could not be "
            f"written ({ctx.record_failures[-1]}); the next ci-deploy run reconciles it"
        )
    return record


def _abort_in_flight(plan: Plan, ctx: RolloutContext, in_flight: StateRecord | None) -> None:
    """Undo the rollout still in flight before the new one; if that fails, a human must act.

    The failure is recorded on ``in_flight`` (its revision, plan and step), not on the new
    image's record, which has no plan yet: the ``abort`` the hint advises continues from it.
    """
    started = ctx.record
    if in_flight is not None and in_flight.plan is not None:
        # While it runs, the record is the aborted rollout's, as an `abort` writes it: killed
        # here, the next deploy or abort takes the abort up at that rollout's step.
        ctx.record = in_flight.with_changes(
            phase="Progressing",
            message=f"aborted first, before {plan.target.image}",
            plan={**in_flight.plan, ABORTED_AT: rollout_step(in_flight)},
        )
    try:
        with ctx.progress.group("Abort the rollout in flight"):
            execute(plan.prelude, ctx, title="abort step", record_as=ABORT_STEP)
    except StepFailed as failure:
        t = plan.target
        message = (
            f"the rollout still in flight in {t.environment} could not be aborted before "
            f"{t.image} ({failure.message}); {t.image} was not started"
        )
        if in_flight is not None:
            ctx.record = in_flight.with_changes(step=rollout_step(in_flight))
        ctx.set_phase("Failed", message)
        raise RollbackFailed(
            message,
            hint=f"a human must act: run `ci-deploy abort --env {t.environment}` again, or look "
            f"at kubectl -n {t.namespace} get deployment,service -l app.kubernetes.io/name={t.app}",
        ) from failure
    ctx.record = started
