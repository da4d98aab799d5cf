"""A rollout as data: a Plan is a list of Steps, a pure function of config and cluster state.

``ci-deploy plan`` prints the plan; ``ci-deploy deploy`` executes the plan made by the very same
function (``make_plan``). Steps are small frozen dataclasses; the executor dispatches on their type
(``executor.HANDLERS``). The rolling strategy needs record-stable, apply, wait and record; the
canary and blue-green strategies add their steps (set weight, pause, analyze, switch, scale
down) here, each with its handler in the executor, in the same shape.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from ci_deploy.kube.state import StateRecord

Obj = dict[str, Any]


# -- the step vocabulary ------------------------------------------------------------------------
@dataclass(frozen=True)
class Step:
    """One thing a rollout does; ``name`` is stable text used in the state record."""

    name = "step"

    def describe(self) -> str:
        """One line for the printed plan."""
        return self.name


@dataclass(frozen=True)
class RecordStable(Step):
    """Remember the exact pod template that is stable now (what a rollback restores)."""

    image: str | None  # None: first deploy, nothing to roll back to
    name = "record-stable"

    def describe(self) -> str:
        if self.image is None:
            return "record stable revision: none (first deploy: a failure cannot be rolled back)"
        return f"record stable revision: {self.image}"


@dataclass(frozen=True)
class Apply(Step):
    """Server-side apply every rendered object (field manager ci-deploy), after a dry run.

    The API server first admits all of them in a dry run (a refusal there changes nothing);
    then each is applied and compared with its state before, so a failure knows what changed.
    """

    objects: tuple[str, ...]  # "Deployment web-app", ...
    image: str
    manifests: tuple[Obj, ...] = field(default=(), compare=False)  # the rendered objects
    name = "apply"

    def describe(self) -> str:
        shown = ", ".join(self.objects[:6]) + (" …" if len(self.objects) > 6 else "")
        return f"apply {len(self.objects)} objects with image {self.image}: {shown}"


@dataclass(frozen=True)
class WaitForRollout(Step):
    """Watch the Deployment until its new pods are available (or fail fast)."""

    deployment: str
    timeout: float
    selector: str = ""  # the Deployment's pod selector (label selector text)
    name = "wait-rollout"

    def describe(self) -> str:
        return f"wait for deployment/{self.deployment} to roll out (timeout {self.timeout:.0f}s)"


@dataclass(frozen=True)
class VerifyRunning(Step):
    """Check that the Deployment and its Ready pods run exactly the images it was given."""

    deployment: str
    images: tuple[tuple[str, str], ...]  # (container, image) of the pod template
    selector: str = ""
    name = "verify"

    def describe(self) -> str:
        shown = ", ".join(f"{c}={i}" for c, i in self.images)
        return f"verify that deployment/{self.deployment} and its Ready pods run {shown}"


@dataclass(frozen=True)
class Record(Step):
    """Write the final phase to the state record."""

    phase: str
    message: str = ""  # for people; empty: the executor words it
    name = "record"

    def describe(self) -> str:
        return f"record phase {self.phase}"


# -- the steps of a recovery (after a failed step) -----------------------------------------------
@dataclass(frozen=True)
class RestoreTemplate(Step):
    """Put the Deployment's stable pod template back (exactly, as recorded)."""

    deployment: str
    image: str | None
    template: Obj | None = field(default=None, compare=False)
    name = "restore-template"

    def describe(self) -> str:
        return f"restore deployment/{self.deployment} to the stable template ({self.image})"


@dataclass(frozen=True)
class RestoreObjects(Step):
    """Undo what this run did to other objects: delete those it created, put back the rest."""

    objects: tuple[str, ...]  # refs; empty in a printed plan: "whatever the run touched"
    changes: tuple[Any, ...] = field(default=(), compare=False)  # kube.changes.ObjectChange
    name = "restore-objects"

    def describe(self) -> str:
        if not self.objects:
            return "restore the other objects this run changed; delete those it created"
        return f"restore {len(self.objects)} objects as they were: {', '.join(self.objects)}"


@dataclass(frozen=True)
class RemoveCreated(Step):
    """A first deploy whose apply failed halfway: delete every object it created."""

    objects: tuple[str, ...]
    changes: tuple[Any, ...] = field(default=(), compare=False)
    name = "remove-created"

    def describe(self) -> str:
        listed = ", ".join(self.objects) if self.objects else "every object it created"
        return f"delete what this first deploy created ({listed})"


# -- inputs and the plan -------------------------------------------------------------------------
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
        if self.noop_reason:
            lines.append(f"  nothing to do: {self.noop_reason}")
            return "\n".join(lines)
        for i, step in enumerate(self.steps, 1):
            lines.append(f"  {i}. {step.describe()}")
        lines.append("  if the dry run refuses an object: stop, nothing changed (exit 4)")
        if self.previous_image:
            lines.append(f"  on failure: roll back to {self.previous_image} (exit 1)")
            lines += [f"    {i}. {step.describe()}" for i, step in enumerate(self.recovery, 1)]
        else:
            lines.append(
                "  on failure while applying: delete what this first deploy created (exit 1)"
            )
            lines.append("  on failure after it: no previous revision; stop and report (exit 3)")
        return "\n".join(lines)


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
    from ci_deploy.rollout.strategies import strategy_for

    template = stable_template(observed)
    previous = _image_of(template, target.container)
    reason = noop_reason(target, observed)
    exists = observed.deployment_exists
    if reason:
        return Plan(target, (), previous, template, noop_reason=reason, deployment_exists=exists)
    steps = strategy_for(target.strategy).steps(target, observed, previous)
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
    images = tuple(_images_of(template)) if template else target.images
    return (
        RestoreObjects(tuple(c.ref for c in changes), changes),
        RestoreTemplate(target.app, image, template),
        WaitForRollout(target.app, target.timeout, target.selector),
        VerifyRunning(target.app, images, target.selector),
        Record("RolledBack"),
    )


def _images_of(template: Obj) -> list[tuple[str, str]]:
    containers = (template.get("spec") or {}).get("containers") or []
    return [(str(c.get("name")), str(c.get("image", ""))) for c in containers]


def _image_of(template: Obj | None, container: str | None = None) -> str | None:
    if not template:
        return None
    pairs = _images_of(template)
    named = [i for c, i in pairs if c == container]
    if named:
        return named[0]
    return pairs[0][1] if pairs else None
