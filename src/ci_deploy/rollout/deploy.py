"""``deploy`` end to end: validate and render, lock, observe, plan, execute, recover, report.

Everything that can be wrong with the input (configuration, environment, image, templates) is
found before the lock is taken or the cluster is touched (exit 2, nothing changed).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from ci_deploy.errors import DeploymentFailed, UserInputError
from ci_deploy.kube.apply import ApplyError, apply_objects
from ci_deploy.kube.cancel import CancelToken
from ci_deploy.kube.client import NAMESPACE, KubeClient
from ci_deploy.kube.health import WaitingTracker, assess
from ci_deploy.kube.revisions import pod_template, template_image
from ci_deploy.kube.state import StateRecord, StateStore
from ci_deploy.platforms import Platform
from ci_deploy.rollout.executor import RolloutContext, StepFailed, execute
from ci_deploy.rollout.locking import deploy_lock, ensure_namespace, require_namespace
from ci_deploy.rollout.options import DeployOptions, cluster_session, load_environment
from ci_deploy.rollout.plan import Observed, Plan, Target, make_plan, manifests_digest
from ci_deploy.rollout.progress import Progress
from ci_deploy.rollout.recover import recover
from ci_deploy.rollout.report import outputs_of, summary_markdown
from ci_deploy.rollout.strategies import strategy_for

if TYPE_CHECKING:
    from ci_deploy.config import Config, EnvironmentConfig

Obj = dict[str, Any]


@dataclass(frozen=True)
class Prepared:
    """Validated config and rendered objects: nothing touched the cluster yet."""

    target: Target
    objects: list[Obj]


def prepare(opts: DeployOptions, cfg: Config, env: EnvironmentConfig) -> Prepared:
    """Render and validate for ``env`` of ``cfg`` (exit 2 on any error); no cluster access."""
    from ci_deploy.render import render_manifests
    from ci_deploy.render.context import resolve_image

    if opts.image is None:
        raise UserInputError("no image given", hint="pass --image REPOSITORY:TAG or @DIGEST")
    strategy_for(env.strategy)  # a strategy this version cannot run is bad input, found early
    # The renderer's own rule: validated, and `--image :1.2.3` means the configured repository.
    image = resolve_image(cfg, opts.image)
    objects = render_manifests(cfg, env.name, image=image)
    names = tuple(f"{o['kind']} {o['metadata']['name']}" for o in objects)
    target = Target(
        app=cfg.app,
        environment=env.name,
        namespace=env.namespace,
        strategy=env.strategy,
        image=image,
        objects=names,
        manifests_digest=manifests_digest(objects),
        timeout=opts.timeout,
        environment_url=env.url,
    )
    return Prepared(target, objects)


def observe(client: KubeClient, namespace: str, app: str) -> tuple[Observed, StateStore]:
    """The live Deployment and its state record, as the plan needs them."""
    store = StateStore(client, namespace, app)
    record, deployment = store.read()
    if deployment is None:
        return Observed(deployment_exists=False, record=record), store
    template = pod_template(deployment)
    healthy = assess(deployment, [], [], WaitingTracker(), 0.0).done
    observed = Observed(
        deployment_exists=True,
        live_template=template,
        live_image=template_image(template),
        live_healthy=healthy,
        record=record,
    )
    return observed, store


def build_plan(opts: DeployOptions) -> tuple[Plan, Prepared]:
    """What ``plan`` prints: the same function ``deploy`` runs, without taking the lock.

    Without an image the plan is made for the live one (what a redeploy would do).
    """
    cfg, env = load_environment(opts)
    # A given image is validated (and rendered) before the cluster is asked anything.
    prepared = prepare(opts, cfg, env) if opts.image is not None else None
    with cluster_session(opts, env.cluster) as client:
        observed, _ = observe(client, env.namespace, cfg.app)
    if prepared is None:
        if observed.live_image is None:
            raise UserInputError(f"nothing is deployed in {env.namespace} yet", hint="pass --image")
        prepared = prepare(replace(opts, image=observed.live_image), cfg, env)
    return make_plan(prepared.target, observed), prepared


def dry_run(opts: DeployOptions, platform: Platform) -> Plan:
    """Print the plan and have the API server validate every object (dryRun=All); no change."""
    cfg, env = load_environment(opts)
    prepared = prepare(opts, cfg, env)
    t = prepared.target
    with cluster_session(opts, env.cluster) as client:
        observed, _ = observe(client, t.namespace, t.app)
        plan = make_plan(t, observed)
        for line in plan.render().splitlines():
            platform.log(line)
        if client.get_or_none(NAMESPACE.path(None, t.namespace)) is None:
            platform.log(
                f"dry run: namespace {t.namespace} does not exist yet (a deploy creates it); "
                "the objects were validated offline only"
            )
            return plan
        try:
            apply_objects(client, prepared.objects, dry_run=True)
        except ApplyError as exc:
            raise DeploymentFailed(f"dry run: the API server refused {exc}") from exc
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
    """Run a deploy; returns the final record or raises DeploymentFailed / RollbackFailed."""
    cfg, env = load_environment(opts)
    prepared = prepare(opts, cfg, env)
    with cluster_session(opts, env.cluster) as client:
        if require_namespace(client, env.namespace, may_create=env.create_namespace):
            platform.log(f"creating namespace {env.namespace} (create_namespace: true)")
            ensure_namespace(client, env.namespace)
        progress = Progress(platform)
        try:
            return _deploy_locked(opts, prepared, client, platform, progress, cancel, urgent)
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
    try:
        with deploy_lock(client, t.namespace, t.app, opts, cancel, progress) as lock:
            observed, store = observe(client, t.namespace, t.app)
            plan = make_plan(t, observed)
            with progress.group("Plan"):
                for line in plan.render().splitlines():
                    progress.line(line)
            if plan.noop_reason:
                record = observed.record
                assert record is not None
                return record
            ctx = RolloutContext(
                client=client,
                namespace=t.namespace,
                deployment=t.app,
                objects=prepared.objects,
                store=store,
                record=start_record(t, plan, observed, lock.holder.url),
                progress=progress,
                cancel=cancel,
                lock_lost=lock.lost,
                fail_fast_grace=opts.fail_fast_grace,
                deployment_exists=observed.deployment_exists,
            )
            return _execute_or_recover(plan, ctx, t.image, opts, urgent)
    finally:
        if ctx is not None:
            record = ctx.record
        if record is not None:
            platform.set_outputs(outputs_of(record, t.environment_url))
            platform.summary(summary_markdown(record, t.environment_url))


def _execute_or_recover(
    plan: Plan, ctx: RolloutContext, image: str, opts: DeployOptions, urgent: CancelToken
) -> StateRecord:
    """Execute the plan; after a failed step, recover (which always raises)."""
    try:
        with ctx.progress.group(f"Rollout of {image}"):
            return execute(plan, ctx)
    except StepFailed as failure:
        with ctx.progress.group("Recovery"):
            recover(ctx, plan, failure, opts, urgent)
