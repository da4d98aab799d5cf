"""``deploy`` end to end: validate and render, lock, observe, plan, execute, recover, report.

Everything that can be wrong with the input (configuration, environment, image, templates) is
found before the lock is taken or the cluster is touched (exit 2, nothing changed).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, NoReturn

from ci_deploy.errors import DeploymentFailed, RollbackFailed, UserInputError
from ci_deploy.kube.apply import ApplyError, apply_objects
from ci_deploy.kube.cancel import CancelToken
from ci_deploy.kube.client import NAMESPACE, KubeClient
from ci_deploy.kube.errors import ApiError, NetworkError
from ci_deploy.kube.health import WaitingTracker, assess
from ci_deploy.kube.lease import LeaseLock, LockCancelled, LockTimeout, current_holder
from ci_deploy.kube.revisions import pod_template, restore_template, template_image
from ci_deploy.kube.state import StateRecord, StateStore
from ci_deploy.platforms import Platform
from ci_deploy.rollout.executor import RolloutContext, StepFailed, execute
from ci_deploy.rollout.options import DeployOptions, cluster_session, load_environment
from ci_deploy.rollout.plan import Observed, Plan, Target, make_plan, manifests_digest
from ci_deploy.rollout.progress import Progress
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

    image = opts.image
    if image is not None and image.startswith((":", "@")):
        image = f"{cfg.image.repository}{image}"  # `--image :1.2.3` means the configured repo
    if image is None:
        raise UserInputError("no image given", hint="pass --image REPOSITORY:TAG or @DIGEST")
    strategy_for(env.strategy)  # a strategy this version cannot run is bad input, found early
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


def outputs_of(record: StateRecord, environment_url: str | None) -> dict[str, str]:
    """Job outputs (DESIGN.md contract): the same keys on every platform."""
    return {
        "phase": record.phase,
        "revision": record.revision,
        "previous-revision": record.previous_revision or "",
        "canary-weight": "" if record.canary_weight is None else str(record.canary_weight),
        "active-color": record.active_color or "",
        "environment-url": environment_url or "",
        "state": record.to_json(with_template=False),
    }


def summary_markdown(record: StateRecord, environment_url: str | None) -> str:
    """A short job summary (GitHub step summary; printed or appended elsewhere)."""
    rows = [
        ("phase", record.phase),
        ("image", f"`{record.revision}`"),
        ("previous stable", f"`{record.previous_revision}`" if record.previous_revision else "-"),
        ("message", record.message.replace("|", "\\|") or "-"),
    ]
    if environment_url:
        rows.append(("environment", environment_url))
    lines = [f"### ci-deploy: {record.app} to {record.environment}: {record.phase}", ""]
    lines += ["| | |", "|---|---|", *(f"| {k} | {v} |" for k, v in rows)]
    return "\n".join(lines) + "\n"


def ensure_namespace(client: KubeClient, namespace: str, *, attempts: int = 5) -> None:
    """Create the namespace if it is missing (the lock lives in it)."""
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
    for _ in range(attempts):
        if client.get_or_none(NAMESPACE.path(None, namespace)) is not None:
            return
        try:
            client.request("POST", NAMESPACE.path(None), body=body)
            return
        except ApiError as exc:
            if exc.status != 409:
                raise
            if not exc.is_conflict:
                return  # AlreadyExists: someone created it meanwhile
    raise DeploymentFailed(f"could not create namespace {namespace}")


@contextmanager
def deploy_lock(
    client: KubeClient, target: Target, opts: DeployOptions, cancel: CancelToken, progress: Progress
) -> Iterator[LeaseLock]:
    """Hold the Lease ``ci-deploy-<app>`` for the block; LockTimeout → exit 1 naming the holder."""
    ensure_namespace(client, target.namespace)
    lock = LeaseLock(
        client, target.namespace, f"ci-deploy-{target.app}", current_holder(), ttl=opts.lock_ttl
    )
    try:
        lock.acquire(opts.lock_timeout, cancelled=cancel, on_wait=progress.line)
    except LockTimeout as exc:
        raise DeploymentFailed(str(exc), hint="wait for that deploy or cancel it") from exc
    except LockCancelled as exc:
        raise DeploymentFailed(str(exc)) from exc
    lock.start_renewing()
    progress.line(f"lock {target.namespace}/{lock.name} taken")
    try:
        yield lock
    finally:
        try:
            lock.release()
        except (ApiError, NetworkError) as exc:
            progress.line(f"could not release the lock (it expires in {opts.lock_ttl:.0f}s): {exc}")


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
    t = prepared.target
    record: StateRecord | None = None
    try:
        with deploy_lock(client, t, opts, cancel, progress) as lock:
            observed, store = observe(client, t.namespace, t.app)
            plan = make_plan(t, observed)
            with progress.group("Plan"):
                for line in plan.render().splitlines():
                    progress.line(line)
            if plan.noop_reason:
                record = observed.record
                assert record is not None
                return record
            record = start_record(t, plan, observed, lock.holder.url)
            ctx = RolloutContext(
                client=client,
                namespace=t.namespace,
                deployment=t.app,
                objects=prepared.objects,
                store=store,
                record=record,
                progress=progress,
                cancel=cancel,
                lock_lost=lock.lost,
                fail_fast_grace=opts.fail_fast_grace,
                deployment_exists=observed.deployment_exists,
            )
            try:
                with progress.group(f"Rollout of {t.image}"):
                    record = execute(plan, ctx)
                return record
            except StepFailed as failure:
                try:
                    with ctx.progress.group("Recovery"):
                        recover(ctx, plan, failure, opts, urgent)
                finally:
                    record = ctx.record
    finally:
        if record is not None:
            platform.set_outputs(outputs_of(record, t.environment_url))
            platform.summary(summary_markdown(record, t.environment_url))


def recover(
    ctx: RolloutContext,
    plan: Plan,
    failure: StepFailed,
    opts: DeployOptions,
    urgent: CancelToken,
) -> NoReturn:
    """After a failed step: roll back to the recorded stable template, or say why not."""
    reason = failure.message
    app = f"{ctx.namespace}/{ctx.deployment}"
    ctx.progress.line(f"rollout of {ctx.record.revision} stopped: {reason}")
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
    previous = plan.previous_image
    if not ctx.applied:
        ctx.set_phase("Failed" if not cancelled else "Aborted", f"{reason}; nothing was changed")
        raise DeploymentFailed(f"{reason}; nothing was changed")
    ctx.progress.line(f"rolling back {app} to {previous}")
    ctx.save(step="rollback", message=f"rolling back: {reason}")
    try:
        ctx.before_change()
        restore_template(ctx.client, ctx.namespace, ctx.deployment, plan.previous_template)
    except (ApiError, NetworkError) as exc:
        ctx.set_phase("Failed", f"{reason}; rollback could not be applied: {exc}")
        raise RollbackFailed(
            f"{reason}; the rollback to {previous} could not be applied: {exc}",
            hint=f"restore it by hand: kubectl -n {ctx.namespace} rollout history "
            f"deployment/{ctx.deployment}, then rollout undo --to-revision=N",
        ) from exc
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
