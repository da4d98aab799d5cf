"""``rollback`` on demand: restore the recorded stable template, or a revision ``status`` lists.

Everything that can be wrong with the input (the ``--to-revision`` value, the namespace, the
Deployment, which revision to restore) is found with reads before the lock is taken, so exit 2
changes nothing, not even the Lease. Under the lock the choice is made again: the cluster may
have moved while this rollback waited for it.

The rollback itself is a plan (:func:`rollback_plan`, pure), printed by ``ci-deploy plan
--rollback`` and run by the same executor as a deploy: record the target, restore the template,
wait, verify what runs, record RolledBack. A failed step is mapped to the exit code of what the
cluster is in (:func:`_failed`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, NoReturn

from ci_deploy.errors import NothingChanged, RollbackFailed, UserInputError
from ci_deploy.kube.cancel import CancelToken
from ci_deploy.kube.client import DEPLOYMENT, KubeClient, Obj
from ci_deploy.kube.errors import ApiError, NetworkError
from ci_deploy.kube.health import strip_hash
from ci_deploy.kube.revisions import pod_template, template_image
from ci_deploy.kube.state import Phase, StateError, StateRecord, StateStore, utc_now
from ci_deploy.kube.watch import selector_text
from ci_deploy.lifecycle import RequiredListenerFailed, outcome_kind
from ci_deploy.platforms import Platform
from ci_deploy.rollout.executor import execute
from ci_deploy.rollout.labels import COLOR_LABEL
from ci_deploy.rollout.locking import deploy_lock, namespace_exists
from ci_deploy.rollout.options import DeployOptions, cluster_session, load_environment
from ci_deploy.rollout.progress import Progress
from ci_deploy.rollout.report import tell_outcome, verb_events
from ci_deploy.rollout.session import RolloutContext, StepFailed
from ci_deploy.rollout.status import (
    ON_DEMAND_STEP,
    RevisionRow,
    app_container,
    last_attempt,
    read_revisions,
)
from ci_deploy.rollout.steps import Record, RestoreTemplate, Step, VerifyRunning, WaitForRollout

if TYPE_CHECKING:
    from ci_deploy.config import Config, EnvironmentConfig
    from ci_deploy.rollout.strategies.blue_green import Colors

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
    colors: Colors | None = None  # a blue-green environment: which colour serves


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
    app, namespace = cfg.primary, env.namespace
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
    if record is not None and record.plan and record.phase in ("Paused", "Progressing"):
        raise UserInputError(
            f"a {record.strategy} rollout of {record.revision} is {record.phase.lower()} in "
            f"{env.name}: a rollback would leave it running",
            hint=f"undo it with `ci-deploy abort --env {env.name}` (traffic back to stable, the "
            "new version removed)",
        )
    container = app_container(record, cfg, pod_template(deployment))
    history = read_revisions(client, deployment, container)
    colors = None
    if record is not None and record.strategy == "blue_green":
        colors = read_colors(client, namespace, app, deployment)
    return Found(store, record, deployment, container, history, colors)


def read_colors(client: KubeClient, namespace: str, app: str, deployment: Obj) -> Colors | None:
    """The colours of a blue-green app: the Service whose selector has the colour key says
    which one serves (None: no such Service, the app is not switched by colour)."""
    from ci_deploy.rollout.strategies.blue_green import Colors, deployment_of, other

    match = ((deployment.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    services = client.get(f"/api/v1/namespaces/{namespace}/services").get("items") or []
    routed = [
        s
        for s in services
        if COLOR_LABEL in (s["spec"].get("selector") or {})
        and all(match.get(k) == v for k, v in s["spec"]["selector"].items() if k != COLOR_LABEL)
    ]
    if not routed:
        return None
    service = routed[0]
    serving = str(service["spec"]["selector"][COLOR_LABEL])
    found = {
        color: client.get_or_none(DEPLOYMENT.path(namespace, deployment_of(app, color)))
        for color in (serving, other(serving))
    }
    now, back = found[serving] or {}, found[other(serving)]
    hpas = client.get(f"/apis/autoscaling/v2/namespaces/{namespace}/horizontalpodautoscalers")
    autoscaler = next(
        (
            str(h["metadata"]["name"])
            for h in hpas.get("items") or []
            if (h["spec"].get("scaleTargetRef") or {}).get("name") == deployment_of(app, serving)
        ),
        "",
    )
    return Colors(
        app=app,
        serving=serving,
        service=str(service["metadata"]["name"]),
        pod_labels=tuple(sorted((str(k), str(v)) for k, v in match.items())),
        replicas=int((now.get("spec") or {}).get("replicas", 1)),
        serving_template=pod_template(now) if now else None,
        back_template=pod_template(back) if back is not None else None,
        autoscaler=autoscaler,
    )


def decide(found: Found, to: Target | None) -> RollbackChoice | NothingToDo:
    """:func:`choose_template` (or :func:`choose_color`) for what :func:`find` read."""
    if found.colors is not None and found.record is not None:
        return choose_color(found.record, found.colors, to)
    return choose_template(found.record, pod_template(found.deployment), found.history, to)


def choose_color(
    record: StateRecord, colors: Colors, to: Target | None
) -> RollbackChoice | NothingToDo:
    """Blue-green: the recorded stable template, to be brought up on the colour that does not
    serve and switched to; or why not. Pure; exit 2 for what it cannot do."""
    from ci_deploy.rollout.strategies.blue_green import other

    if to is not None:
        raise UserInputError(
            "--to-revision is not supported for strategy blue_green yet: a rollback switches "
            "back to the version that served before the last deploy",
            hint="leave --to-revision out, or deploy the image you want (ci-deploy deploy --image)",
        )
    if record.plan and record.phase in ("Paused", "Progressing"):
        raise UserInputError(
            f"the blue-green rollout of {record.revision} is {record.phase.lower()} here and "
            f"{record.previous_revision} still serves",
            hint=f"`ci-deploy abort --env {record.environment}` undoes it",
        )
    if record.phase == "RolledBack":
        return NothingToDo(f"already rolled back to {record.previous_revision}")
    stable = record.previous_template
    if stable is None:
        raise UserInputError("there is no previous revision to roll back to (first deploy)")
    if colors.serving_template is not None and _uncolored(stable) == _uncolored(
        colors.serving_template
    ):
        return NothingToDo(f"{record.previous_revision} already serves ({colors.serving})")
    why = f"the recorded stable one, on {other(colors.serving)}"
    return RollbackChoice(stable, record.previous_revision or "?", why)


def _uncolored(template: Obj) -> Obj:
    labels = dict((template.get("metadata") or {}).get("labels") or {})
    labels.pop(COLOR_LABEL, None)
    return strip_hash(
        {**template, "metadata": {**(template.get("metadata") or {}), "labels": labels}}
    )


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


@dataclass(frozen=True)
class RecordRollback(Step):
    """Write the rollback's start to the record before anything is changed (strict)."""

    image: str
    name = "record-rollback"

    def describe(self) -> str:
        return f"record the rollback to {self.image} (so a killed job is known to have started it)"

    def run(self, ctx: RolloutContext) -> None:
        ctx.save(strict=True)


@dataclass(frozen=True)
class RollbackPlan:
    """The steps of a rollback on demand, and what it starts from."""

    app: str
    environment: str
    namespace: str
    live_image: str | None
    choice: RollbackChoice
    steps: tuple[Step, ...]

    def render(self) -> str:
        """Human-readable text, the same for ``plan --rollback`` and the start of ``rollback``."""
        lines = [
            f"plan: rollback of {self.app} in {self.environment} (namespace {self.namespace})",
            f"  live now: {self.live_image or '?'}",
            f"  roll back to: {self.choice.image} ({self.choice.why})",
        ]
        lines += [f"  {i}. {step.describe()}" for i, step in enumerate(self.steps, 1)]
        lines.append(
            "  if the record cannot be written, or the template cannot be restored and is as "
            "it was: stop, nothing changed (exit 4)"
        )
        lines.append("  if the restored revision does not come up: stop and report (exit 3)")
        return "\n".join(lines)


def rollback_plan(
    app: str, env: EnvironmentConfig, found: Found, choice: RollbackChoice, timeout: float
) -> RollbackPlan:
    """THE plan of a rollback on demand (pure): what ``plan --rollback`` prints is what runs."""
    deployment = found.deployment
    selector = selector_text(deployment)
    images = tuple(
        (str(c.get("name")), str(c.get("image", "")))
        for c in (choice.template.get("spec") or {}).get("containers") or []
    )
    live_template = pod_template(deployment)
    middle: tuple[Step, ...] = (
        RestoreTemplate(app, choice.image, choice.template),
        WaitForRollout(app, timeout, selector),
        VerifyRunning(app, images, selector),
    )
    if found.colors is not None:
        from ci_deploy.rollout.strategies.blue_green import rollback_steps

        middle = tuple(rollback_steps(found.colors, choice.template, choice.image, timeout))
        live_template = found.colors.serving_template or live_template
    steps: tuple[Step, ...] = (
        RecordRollback(choice.image),
        *middle,
        Record("RolledBack", f"rolled back on demand to {choice.image}"),
    )
    live = template_image(live_template, found.container)
    return RollbackPlan(app, env.name, env.namespace, live, choice, steps)


def build_rollback_plan(opts: DeployOptions, to_revision: str | None) -> RollbackPlan | NothingToDo:
    """What ``plan --rollback`` prints: reads only, no lock."""
    cfg, env = load_environment(opts)
    to = parse_target(to_revision, cfg)
    with cluster_session(opts, env.cluster) as client:
        found = find(client, cfg, env)
        decision = decide(found, to)
    if isinstance(decision, NothingToDo):
        return decision
    return rollback_plan(cfg.primary, env, found, decision, opts.timeout)


def _rollback_locked(run: RollbackRun, to: Target | None, platform: Platform) -> RollbackResult:
    """Under the lock: choose again, then run the rollback plan and report its outcome."""
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
        plan = rollback_plan(run.cfg.primary, run.env, found, decision, run.opts.timeout)
        events = verb_events(run.cfg, run.env.name, run.env.url, platform, "rollback")
        ctx = RolloutContext(
            client=run.client,
            namespace=namespace,
            store=found.store,
            record=_start_record(run, found, plan, lock.holder.url),
            progress=run.progress,
            cancel=run.cancel,
            lock_lost=lock.lost,
            fail_fast_grace=run.opts.fail_fast_grace,
            deployment_exists=True,
            events=events,
        )
        error: BaseException | None = None
        told = True
        try:
            with run.progress.group("Plan"):
                for line in plan.render().splitlines():
                    run.progress.line(line)
            try:
                events.emit("started", ctx.record)
            except RequiredListenerFailed:
                told = False  # nothing was changed: no outcome to tell
                raise
            try:
                record = execute(plan.steps, ctx, title="rollback step", record_as=ON_DEMAND_STEP)
            except StepFailed as failure:
                _failed(run, found, ctx, plan, failure)
        except BaseException as exc:
            error = exc
            raise
        finally:
            if told:
                kind = outcome_kind(ctx.record, error)
                tell_outcome(events, kind, ctx.record, ctx, platform, "rollback", error)
        number = f" (revision {record.deployment_revision})" if record.deployment_revision else ""
        return RollbackResult(
            record, f"RolledBack: {decision.image} is live in {run.env.name}{number}"
        )


def _start_record(
    run: RollbackRun, found: Found, plan: RollbackPlan, run_url: str | None
) -> StateRecord:
    """The record of a rollback on demand that is about to start (written by its first step).

    Record semantics (kube/state.py): revision = rolled back from, previous = the target.
    """
    env, choice = run.env, plan.choice
    live_image = plan.live_image or "?"
    base = found.record or StateRecord(
        run.cfg.app, env.name, env.strategy, "Progressing", live_image
    )
    return base.with_changes(
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


def _failed(
    run: RollbackRun, found: Found, ctx: RolloutContext, plan: RollbackPlan, failure: StepFailed
) -> NoReturn:
    """A step of the rollback failed: record and raise what the cluster is in."""
    namespace, app, image = run.env.namespace, run.cfg.primary, plan.choice.image
    if failure.step == RecordRollback.name:
        raise NothingChanged(
            f"could not record the rollback: {failure.message}; nothing was changed"
        )
    if failure.step == RestoreTemplate.name:
        _not_applied(run, found, ctx.record, plan.choice, failure.message)
    if failure.kind == "cancelled":
        phase: Phase = "Aborted"
        message = f"rollback to {image} applied, not confirmed: {failure.message}"
    elif failure.kind == "api":
        phase, message = "Failed", f"the rollback to {image} was applied, but its outcome is "
        message += f"unknown: {failure.message}"
    else:
        phase, message = "Failed", f"rollback to {image} failed: {failure.message}"
    ctx.set_phase(phase, message)
    if failure.kind == "api":
        raise RollbackFailed(
            message, hint=f"see what is live: ci-deploy status --env {run.env.name}"
        )
    hint = f"a human must act: kubectl -n {namespace} rollout status deployment/{app}"
    raise RollbackFailed(message, hint=hint)


def _not_applied(
    run: RollbackRun, found: Found, record: StateRecord, choice: RollbackChoice, reason: str
) -> NoReturn:
    """The template could not be restored: exit 4 if the Deployment is as it was, else exit 3."""
    namespace, app = run.env.namespace, run.cfg.primary
    failed = f"the rollback to {choice.image} could not be applied: {reason}"
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
        ) from again
    if unchanged:
        raise NothingChanged(f"{failed}; the Deployment's pod template was not changed")
    raise RollbackFailed(
        failed, hint=f"check it: kubectl -n {namespace} rollout history deployment/{app}"
    )
