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
    """Server-side apply every rendered object (field manager ci-deploy)."""

    objects: tuple[str, ...]  # "Deployment web-app", ...
    image: str
    name = "apply"

    def describe(self) -> str:
        shown = ", ".join(self.objects[:6]) + (" …" if len(self.objects) > 6 else "")
        return f"apply {len(self.objects)} objects with image {self.image}: {shown}"


@dataclass(frozen=True)
class WaitForRollout(Step):
    """Watch the Deployment until its new pods are available (or fail fast)."""

    deployment: str
    timeout: float
    name = "wait-rollout"

    def describe(self) -> str:
        return f"wait for deployment/{self.deployment} to roll out (timeout {self.timeout:.0f}s)"


@dataclass(frozen=True)
class Record(Step):
    """Write the final phase to the state record."""

    phase: str
    name = "record"

    def describe(self) -> str:
        return f"record phase {self.phase}"


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


@dataclass(frozen=True)
class Observed:
    """What the cluster says before the rollout."""

    deployment_exists: bool
    live_template: Obj | None = None
    live_image: str | None = None
    live_healthy: bool = False
    record: StateRecord | None = None


@dataclass(frozen=True)
class Plan:
    """The steps of one rollout, plus what a failure would restore."""

    target: Target
    steps: tuple[Step, ...]
    previous_image: str | None
    previous_template: Obj | None = field(default=None, compare=False)
    noop_reason: str | None = None

    def render(self) -> str:
        """Human-readable text, the same for ``plan`` and the start of ``deploy``."""
        t = self.target
        lines = [
            f"plan: {t.app} to {t.environment} (namespace {t.namespace}), strategy {t.strategy}",
            f"  image: {t.image}",
            f"  stable now: {self.previous_image or 'nothing (first deploy)'}",
        ]
        if self.noop_reason:
            lines.append(f"  nothing to do: {self.noop_reason}")
            return "\n".join(lines)
        for i, step in enumerate(self.steps, 1):
            lines.append(f"  {i}. {step.describe()}")
        if self.previous_image:
            lines.append(f"  on failure: roll back to {self.previous_image}")
        else:
            lines.append("  on failure: no previous revision; stop and report (exit 3)")
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
    """THE plan of a deploy: the strategy's steps, or nothing when it is already done."""
    from ci_deploy.rollout.strategies import strategy_for

    template = stable_template(observed)
    previous = _image_of(template)
    reason = noop_reason(target, observed)
    if reason:
        return Plan(target, (), previous, template, noop_reason=reason)
    steps = strategy_for(target.strategy).steps(target, observed, previous)
    return Plan(target, tuple(steps), previous, template)


def _image_of(template: Obj | None) -> str | None:
    if not template:
        return None
    containers = (template.get("spec") or {}).get("containers") or []
    return str(containers[0].get("image")) if containers else None
