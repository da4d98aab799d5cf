"""A rollout as data: a Plan is a list of Steps, a pure function of config and cluster state.

``ci-deploy plan`` prints the plan; ``ci-deploy deploy`` executes the plan made by the very same
function (``make_plan``). Steps (``steps.py``, and a strategy's own in its module) are small
frozen dataclasses that carry what they use and know how to run; the executor runs any of them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from ci_deploy.config.model import BlueGreenConfig, CanaryConfig, RollingConfig
from ci_deploy.config.values import Duration
from ci_deploy.kube.state import StateRecord
from ci_deploy.rollout.recorded import recorded_number

if TYPE_CHECKING:
    from ci_deploy.analysis.spec import AnalysisSpec
from ci_deploy.rollout.steps import (
    Record,
    RestoreObjects,
    RestoreTemplate,
    Step,
    VerifyRunning,
    WaitForRestored,
    WaitForRollout,
    Watch,
)

Obj = dict[str, Any]


# -- inputs and the plan -------------------------------------------------------------------------
StrategySettings = RollingConfig | CanaryConfig | BlueGreenConfig


@dataclass(frozen=True)
class Target:
    """What is to be deployed where (from config + rendered manifests + arguments)."""

    app: str
    environment: str
    namespace: str
    strategy: str
    image: str
    objects: tuple[str, ...]
    manifests_digest: str
    timeout: float
    environment_url: str | None = None
    container: str | None = None  # the container of the Deployment that runs ``image``
    images: tuple[tuple[str, str], ...] = ()  # (container, image) of the rendered pod template
    selector: str = ""  # the Deployment's pod selector
    manifests: tuple[Obj, ...] = field(default=(), compare=False)  # the rendered objects
    replicas: int = 1  # the environment's replicas (what a canary's share is counted from)
    settings: StrategySettings | None = None  # the strategy's block of ci-deploy.yml
    time_scale: float = 1.0  # every duration of the plan divided by it (sandbox rehearsals)
    analysis: AnalysisSpec | None = field(default=None, compare=False)  # how it is judged
    # where the deployed image replaced another of image.repository (render/images.py)
    image_set: tuple[str, ...] = field(default=(), compare=False)
    prune: bool = True  # --no-prune: False
    # the app's Deployments, StatefulSets and DaemonSets besides the primary ("StatefulSet db")
    workloads: tuple[str, ...] = ()
    hooks: tuple[Obj, ...] = field(default=(), compare=False)  # hook Jobs (rollout/hooks.py)
    primary: str = ""  # manifests.primary: the Deployment rolled out ("": the app's name)

    @property
    def deployment(self) -> str:
        """The name of the primary Deployment (the one the strategy rolls out)."""
        return self.primary or self.app


@dataclass(frozen=True)
class Workload:
    """One Deployment of the app as the cluster has it: the stable one, a canary, a colour."""

    name: str
    track: str  # stable | canary | baseline (TRACK_LABEL; the app-named Deployment: stable)
    color: str | None  # COLOR_LABEL, for blue-green
    replicas: int  # spec.replicas
    ready: int  # status.readyReplicas
    template: Obj = field(compare=False, default_factory=dict)


@dataclass(frozen=True)
class Observed:
    """What the cluster says before the rollout."""

    deployment_exists: bool
    live_template: Obj | None = None
    live_image: str | None = None
    live_healthy: bool = False
    record: StateRecord | None = None
    reconciled: bool = (
        False  # ``record`` was set right from the cluster (a run left it Progressing)
    )
    workloads: tuple[Workload, ...] = ()  # every Deployment of the app, the primary first

    def workload(self, track: str, color: str | None = None) -> Workload | None:
        """The app's Deployment on ``track`` (and ``color``), if the cluster has one."""
        return next(
            (w for w in self.workloads if w.track == track and (color is None or w.color == color)),
            None,
        )


@dataclass(frozen=True)
class FailurePath:
    """One way a progressive rollout ends early, as printed under the happy path."""

    heading: str
    steps: tuple[Step, ...] = ()


@dataclass(frozen=True)
class Plan:
    """The steps of one rollout, plus what a failure would restore and how."""

    target: Target
    steps: tuple[Step, ...]
    previous_image: str | None
    previous_template: Obj | None = field(default=None, compare=False)
    noop_reason: str | None = None
    recovery: tuple[Step, ...] = ()  # the failure path, as printed (made concrete on failure)
    deployment_exists: bool = False  # a Deployment is there, stable or not
    start: int = 1  # the step to start at (a run that continues an interrupted one)
    failure_paths: tuple[FailurePath, ...] = ()  # progressive strategies: each way out
    notes: tuple[str, ...] = ()  # what people should know about this plan
    total_seconds: float = 0.0  # the waits of the plan (stage durations), if any
    prelude: tuple[Step, ...] = ()  # run first, numbered apart (abort an older canary)
    hooks: tuple[Step, ...] = ()  # the pre-deploy hooks: after the prelude, numbered apart
    changes: str = ""  # "1 created, 2 changed, …" (``plan``: the dry run's; rollout/diff.py)

    def _no_stable(self) -> str:
        if self.deployment_exists:
            return "nothing (no release of it here has succeeded yet)"
        return "nothing (first deploy)"

    def render(self) -> str:
        """Human-readable text, the same for ``plan`` and the start of ``deploy``."""
        t = self.target
        lines = [
            f"plan: {t.app} to {t.environment} (namespace {t.namespace}), strategy {t.strategy}",
            f"  image: {t.image}",
            f"  stable now: {self.previous_image or self._no_stable()}",
        ]
        lines += [f"  image set in {where}" for where in t.image_set]
        if self.changes:
            lines.append(f"  objects: {self.changes} (`ci-deploy diff` shows how)")
        if t.time_scale != 1:
            lines.append(f"  time scale: every duration divided by {t.time_scale:g} (sandbox)")
        lines += [f"  note: {note}" for note in self.notes]
        if self.noop_reason:
            lines.append(f"  nothing to do: {self.noop_reason}")
            return "\n".join(lines)
        if self.prelude:
            lines.append("  first, undo the rollout still in flight:")
            lines += [f"    {i}. {step.describe()}" for i, step in enumerate(self.prelude, 1)]
            lines.append("  then:")
        if self.hooks and self.start == 1:
            lines.append(
                "  before the rollout, the pre-deploy hooks (one fails: stop, no workload changed):"
            )
            lines += [f"    {i}. {step.describe()}" for i, step in enumerate(self.hooks, 1)]
            lines.append("  the rollout:")
        if self.start > 1:
            last = self.steps[self.start - 2]
            lines.append(
                f"  1-{self.start - 1}. done by an earlier run (the last: {last.describe()})"
            )
        for i, step in enumerate(self.steps, 1):
            if i >= self.start:
                lines.append(f"  {i}. {step.describe()}")
        if self.total_seconds:
            lines.append(
                f"  expected time: at least {Duration(self.total_seconds).canonical} of stage "
                "waits, plus the time pods take to become ready and any manual gates"
            )
        lines.append("  if the dry run refuses an object: stop, nothing changed (exit 4)")
        if self.failure_paths:
            for path in self.failure_paths:
                lines.append(f"  {path.heading}")
                lines += [f"    {i}. {step.describe()}" for i, step in enumerate(path.steps, 1)]
        elif self.previous_image:
            lines.append(f"  on failure: roll back to {self.previous_image} (exit 1)")
            lines += [f"    {i}. {step.describe()}" for i, step in enumerate(self.recovery, 1)]
        else:
            lines.append(
                "  on failure while applying: delete what this first deploy created (exit 1)"
            )
            lines.append("  on failure after it: no previous revision; stop and report (exit 3)")
        return "\n".join(lines)


def stage_waits(steps: tuple[Step, ...] | list[Step]) -> float:
    """The seconds a plan's steps wait by design (its ``Watch`` steps): ``Plan.total_seconds``."""
    return sum(s.seconds for s in steps if isinstance(s, Watch))


def manifests_digest(objects: list[Obj]) -> str:
    """A short digest of the rendered objects (a config change with the same image is no no-op)."""
    text = json.dumps(objects, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def stable_template(observed: Observed) -> Obj | None:
    """The pod template a failure must restore, from the live Deployment or the record.

    When the last rollout finished (Succeeded / RolledBack) the live template is stable.
    When it was interrupted or failed without a rollback, the live template may be the broken
    one, so the template recorded before that rollout is the stable one.
    """
    if not observed.deployment_exists:
        return None
    record = observed.record
    if record is None or record.phase in ("Succeeded", "RolledBack"):
        return observed.live_template
    return record.previous_template


def noop_reason(target: Target, observed: Observed) -> str | None:
    """Why this deploy has nothing to do (same image and manifests already Succeeded), if so."""
    record = observed.record
    if (
        record is not None
        and record.phase == "Succeeded"
        and record.revision == target.image
        and observed.live_image == target.image
        and observed.live_healthy
        and record.manifests_digest == target.manifests_digest
    ):
        return f"{target.image} is already deployed and Succeeded in {target.environment}"
    return None


def make_plan(target: Target, observed: Observed) -> Plan:
    """THE plan of a deploy: the strategy's steps and the failure path, or nothing to do."""
    from ci_deploy.rollout.hooks import PRE_DEPLOY, hook_steps
    from ci_deploy.rollout.prune import with_pruning
    from ci_deploy.rollout.strategies import ProgressiveStrategy, strategy_for

    strategy = strategy_for(target.strategy)
    if isinstance(strategy, ProgressiveStrategy) and not noop_reason(target, observed):
        plan = strategy.plan(target, observed)
    else:
        plan = make_rolling_plan(target, observed)
    if not plan.noop_reason and plan.start == 1:
        plan = replace(plan, hooks=tuple(hook_steps(target.hooks, PRE_DEPLOY, target.timeout)))
    return with_pruning(plan, enabled=target.prune)


def make_rolling_plan(target: Target, observed: Observed) -> Plan:
    """The plan of a rolling update (also a progressive strategy's first deploy)."""
    from ci_deploy.rollout.strategies.rolling import RollingStrategy

    template = stable_template(observed)
    previous = image_of(template, target.container)
    reason = noop_reason(target, observed)
    exists = observed.deployment_exists
    if reason:
        return Plan(target, (), previous, template, noop_reason=reason, deployment_exists=exists)
    steps = RollingStrategy().steps(target, observed, previous)
    recovery = rollback_steps(target, previous, template, ())
    return Plan(
        target, tuple(steps), previous, template, recovery=recovery, deployment_exists=exists
    )


def rollback_steps(
    target: Target, image: str | None, template: Obj | None, changes: tuple[Any, ...]
) -> tuple[Step, ...]:
    """Undo a run: other objects back as they were, the stable template back, wait, verify.

    ``changes`` are the run's object changes (``kube.changes.ObjectChange``) other than the
    Deployment's; empty for a printed plan, where they are not known yet.
    """
    images = tuple(images_of(template)) if template else target.images
    others: tuple[Step, ...] = (
        (WaitForRestored(target.timeout, target.deployment),) if target.workloads else ()
    )
    return (
        RestoreObjects(tuple(c.ref for c in changes), changes),
        RestoreTemplate(target.deployment, image, template),
        WaitForRollout(target.deployment, target.timeout, target.selector),
        *others,
        VerifyRunning(target.deployment, images, target.selector),
        Record("RolledBack"),
    )


def images_of(template: Obj) -> list[tuple[str, str]]:
    containers = (template.get("spec") or {}).get("containers") or []
    return [(str(c.get("name")), str(c.get("image", ""))) for c in containers]


def image_of(template: Obj | None, container: str | None = None) -> str | None:
    if not template:
        return None
    pairs = images_of(template)
    named = [i for c, i in pairs if c == container]
    if named:
        return named[0]
    return pairs[0][1] if pairs else None


def primary_manifest(target: Target) -> Obj:
    """The rendered Deployment of the app."""
    return next(
        o
        for o in target.manifests
        if o.get("kind") == "Deployment" and o["metadata"]["name"] == target.deployment
    )


def check_recorded(doc: Obj, strategy: str, version: int) -> None:
    """A record's ``plan`` must be of ``strategy`` at ``version`` to be continued (else exit 2)."""
    from ci_deploy.errors import UserInputError

    if doc.get("strategy") != strategy or doc.get("version") != version:
        raise UserInputError(
            "the recorded rollout was started by another version of ci-deploy "
            f"(plan {doc.get('strategy')!r} v{doc.get('version')}); abort it with that version"
        )


def resumed_plan(
    target: Target,
    record: StateRecord,
    steps: tuple[Step, ...],
    failure_paths: tuple[FailurePath, ...],
    *,
    start: int | None = None,
) -> Plan:
    """A plan that acts on the recorded rollout: ``promote``'s (its ``steps`` from the step
    after the gate) or, with ``start``, ``abort``'s."""
    return Plan(
        target,
        steps,
        record.previous_revision,
        record.previous_template,
        deployment_exists=True,
        start=recorded_number(record) + 1 if start is None else start,
        failure_paths=failure_paths,
    )


def continued(target: Target, record: StateRecord) -> dict[str, Any]:
    """The same image and manifests are in flight: a deploy holds at the recorded gate
    (``noop_reason``), or continues the run that was interrupted from the recorded step
    (``start``, with a note). Keyword arguments of the strategy's ``Plan``."""
    if record.phase == "Paused":
        held = (
            f"{target.image} is paused in {target.environment} at step {record.step}: run "
            f"`ci-deploy promote --env {target.environment}` or `ci-deploy abort`"
        )
        return {"noop_reason": held}
    note = (
        f"a run of {target.image} was interrupted at step {record.step}: this run continues "
        "from that step, with the parameters recorded when the rollout started"
    )
    return {"start": max(1, recorded_number(record)), "notes": (note,)}


def recorded_target(
    record: StateRecord,
    *,
    timeout: float,
    namespace: str = "",
    images: tuple[tuple[str, str], ...] = (),
    replicas: int = 1,
    time_scale: float = 1.0,
    primary: str = "",
) -> Target:
    """A Target for the recorded rollout (no manifests: only what its later steps use);
    ``primary``: the Deployment the record lives on, when it is not the app-named one."""
    return Target(
        app=record.app,
        environment=record.environment,
        namespace=namespace,
        strategy=record.strategy,
        image=record.revision,
        objects=(),
        manifests_digest=record.manifests_digest or "",
        timeout=timeout,
        container=record.container,
        images=images,
        replicas=replicas,
        time_scale=time_scale,
        primary="" if primary == record.app else primary,
    )
