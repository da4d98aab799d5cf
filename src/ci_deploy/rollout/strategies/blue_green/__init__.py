"""Blue-green: the new version beside the serving one at full size, checked, then switched.

The two colours are two Deployments: the one named after the app (which also holds the state
record) is **blue**, ``<app>-green`` is **green**. Their pods carry ``ci-deploy.dev/color`` and
the app's Service selects one colour; moving that one selector key is the traffic switch
(an HTTPRoute or Ingress keeps pointing at the Service). A rollout deploys the colour that does
not serve, waits until it is ready, checks it through a preview Service (``<service>-preview``,
removed once traffic is switched), optionally pauses for ``promote``, switches, checks again
through the main Service, keeps the previous colour at full size for ``scale_down_delay`` (the
instant way back while the new one proves itself), then scales it to zero once the
PodDisruptionBudgets allow it. The colour at zero stays as a Deployment: the next deploy's
target (and, for blue, the record's home).

Every ``apply`` of the rendered Service carries the selector of the colour serving at that
moment: the selector is an atomic map, so applying the bare rendered one would send traffic
to both colours. An HPA of the app is pointed at the serving colour the same way.

Everything a later job needs is recorded when the rollout starts (``record.plan``), so
``promote`` and ``abort`` rebuild the very same steps from the cluster alone.

Here: the plans, the strategy and rollback on demand. ``spec``: what a blue-green rollout is, as
recorded, and what is made from the rendered objects. ``steps``: its own steps.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace
from typing import Any

from ci_deploy.config.model import BlueGreenConfig
from ci_deploy.kube.applyset import ApplySet
from ci_deploy.kube.state import StateRecord
from ci_deploy.rollout.hooks import POST_DEPLOY, hook_steps, hooks_of
from ci_deploy.rollout.labels import COLOR_LABEL
from ci_deploy.rollout.plan import (
    FailurePath,
    Observed,
    Plan,
    Target,
    Workload,
    continued,
    image_of,
    images_of,
    primary_manifest,
    recorded_target,
    resumed_plan,
    stable_template,
    stage_waits,
)
from ci_deploy.rollout.prune import Prune
from ci_deploy.rollout.recorded import aborting, recorded_number
from ci_deploy.rollout.steps import (
    Apply,
    Pause,
    Record,
    RestoreObjects,
    Smoke,
    Step,
    VerifyRunning,
    WaitForRollout,
    Watch,
    others_wait,
)
from ci_deploy.rollout.strategies.blue_green.spec import (
    BLUE,
    GREEN,
    GREEN_SUFFIX,
    PLAN_VERSION,
    POLL,
    PREVIEW_SUFFIX,
    BlueGreenSpec,
    app_service,
    color_manifest,
    deployment_of,
    labels_text,
    other,
    routed_objects,
    scales_app,
    settings_of,
)
from ci_deploy.rollout.strategies.blue_green.steps import (
    CheckTraffic,
    LabelColor,
    PreviewService,
    RecordColor,
    RecordStart,
    RemovePreview,
    RouteTraffic,
    ScaleColor,
    StartColor,
    Switch,
)

__all__ = [
    "BLUE",
    "GREEN",
    "GREEN_SUFFIX",
    "PLAN_VERSION",
    "POLL",
    "PREVIEW_SUFFIX",
    "BlueGreenSpec",
    "BlueGreenStrategy",
    "CheckTraffic",
    "Colors",
    "LabelColor",
    "PreviewService",
    "RecordColor",
    "RecordStart",
    "RemovePreview",
    "RouteTraffic",
    "ScaleColor",
    "Serving",
    "StartColor",
    "Switch",
    "app_service",
    "color_manifest",
    "deployment_of",
    "failure_paths",
    "labels_text",
    "other",
    "rollback_steps",
    "rollout_steps",
    "routed_objects",
    "scales_app",
    "serving",
    "settings_of",
    "switched_by",
    "undo_steps",
]

Obj = dict[str, Any]


# -- the plans ----------------------------------------------------------------------------------
def rollout_steps(
    spec: BlueGreenSpec,
    target: Target,
    previous_image: str | None,
    manifests: tuple[Obj, ...] = (),
) -> list[Step]:
    """The blue-green steps, from the spec (the same list in deploy and in promote; without
    ``manifests`` the steps before the gate cannot run, and need not)."""
    old, new = spec.active, spec.new
    applied = replace(target, manifests=manifests)
    rendered = primary_manifest(applied) if manifests else None
    others = (
        routed_objects(applied, spec.service, None if spec.relabel else old) if manifests else ()
    )
    refs = tuple(r for r in target.objects if r != f"Deployment {spec.app}")
    steps: list[Step] = [
        RecordStart(previous_image, old, plan=spec.to_dict()),
        Apply(refs, target.image, others, ""),
        *others_wait(spec.workloads, spec.timeout),
    ]
    if spec.relabel:
        steps += [
            LabelColor(spec.deployment(old), old),
            WaitForRollout(spec.deployment(old), spec.timeout, spec.pods(old)),
            RouteTraffic(spec.service, old, spec.deployment(old), spec.autoscaler),
        ]
    manifest = color_manifest(rendered, spec.app, new, spec.replicas) if rendered else {}
    steps += [
        StartColor(spec.deployment(new), new, target.image, spec.replicas, spec.service, manifest),
        WaitForRollout(spec.deployment(new), spec.timeout, spec.pods(new)),
        VerifyRunning(spec.deployment(new), spec.images, spec.pods(new)),
        PreviewService(spec.service, spec.preview_service, spec.selector, new),
        CheckTraffic(
            "pre-promotion",
            spec.preview_service,
            spec.deployment(new),
            new,
            spec.pods(new),
            spec.timeout,
        ),
    ]
    if spec.analysis is not None and spec.analysis.smoke:
        steps.append(
            Smoke(
                f"before the switch to {new}",
                spec.preview_service,
                track=new,
                color=new,
                analysis=spec.analysis,
            )
        )
    if not spec.auto_promote:
        steps.append(Pause(f"before the switch to {new}", target.environment))
    steps += [
        Switch(spec.service, new, spec.deployment(new), spec.autoscaler, target.image),
        CheckTraffic(
            "post-promotion", spec.service, spec.deployment(new), new, spec.pods(new), spec.timeout
        ),
        RemovePreview(spec.preview_service),
    ]
    if spec.keep_seconds > 0:
        # The rollback triggers are judged on the new colour's metrics while the old colour
        # still runs at full size: a breach switches straight back (the failure path).
        steps.append(
            Watch(
                f"{old} kept at full size for an instant switch back",
                spec.keep_seconds,
                spec.keep_written,
                spec.deployment(new),
                spec.pods(new),
                what="for",
                analysis=spec.analysis,
                track=new,
                color=new,
            )
        )
    steps += [
        ScaleColor(
            spec.deployment(old),
            old,
            spec.pods(old),
            0,
            spec.timeout,
            serving=spec.deployment(new),
        ),
        *hook_steps(spec.post_hooks, POST_DEPLOY, spec.timeout),
        Prune(ApplySet(target.app, target.namespace)),
        Record("Succeeded", f"{target.image} serves from {new}; {old} scaled to 0"),
    ]
    return steps


def undo_steps(spec: BlueGreenSpec, *, switched: bool, phase: str, message: str = "") -> list[Step]:
    """Traffic on the colour that served before (switched back, once it is ready at full
    size), the new colour scaled to zero, the preview removed; the other objects the run
    changed are put back last (``RestoreObjects``: made concrete by the recovery)."""
    old, new = spec.active, spec.new
    steps: list[Step] = []
    if switched:
        steps += [
            ScaleColor(spec.deployment(old), old, spec.pods(old), spec.replicas, spec.timeout),
            WaitForRollout(spec.deployment(old), spec.timeout, spec.pods(old)),
            VerifyRunning(spec.deployment(old), spec.previous_images, spec.pods(old)),
            RouteTraffic(spec.service, old, spec.deployment(old), spec.autoscaler),
        ]
    steps += [
        ScaleColor(spec.deployment(new), new, spec.pods(new), 0, spec.timeout),
        RemovePreview(spec.preview_service),
    ]
    if phase != "Aborted":
        steps.append(RestoreObjects(()))
    steps.append(Record(phase, message))
    return steps


def switched_by(steps: list[Step] | tuple[Step, ...], number: int) -> bool:
    """Whether step ``number`` (1-based) is at or after the switch."""
    at = next((i for i, s in enumerate(steps, 1) if isinstance(s, Switch)), None)
    return at is not None and number >= at


def failure_paths(
    spec: BlueGreenSpec, steps: tuple[Step, ...], env: str
) -> tuple[FailurePath, ...]:
    """What a failure does, before and after the switch (as printed by ``plan``)."""
    old, new = spec.active, spec.new
    at = next((i for i, s in enumerate(steps, 1) if isinstance(s, Switch)), len(steps))
    return (
        FailurePath(
            f"on failure before step {at} (the switch): {old} never stopped serving; scale {new} "
            "to 0 and remove the preview (exit 1)",
            tuple(undo_steps(spec, switched=False, phase="RolledBack")),
        ),
        FailurePath(
            f"on failure from step {at} on: {old} still runs at full size; switch Service "
            f"{spec.service} back to it and scale {new} to 0 (exit 1)",
            tuple(undo_steps(spec, switched=True, phase="RolledBack")),
        ),
        FailurePath(
            f"abort (`ci-deploy abort --env {env}`) while paused: the same as a failure, recorded "
            "as Aborted (exit 0)",
            (),
        ),
    )


@dataclass(frozen=True)
class Serving:
    """What serves before the rollout: the colour, its template and image, and whether its
    pods still need the colour label."""

    color: str
    template: Obj | None
    image: str | None
    relabel: bool = False
    replicas: int = 0  # its Deployment's replicas now (an HPA may have changed them)


def _workload(observed: Observed, name: str) -> Workload | None:
    return next((w for w in observed.workloads if w.name == name), None)


def serving(target: Target, observed: Observed) -> Serving:
    """The colour that serves now, from the cluster: the only one with pods, else the record's."""
    app = target.deployment
    running = [
        c for c in (BLUE, GREEN) if (w := _workload(observed, deployment_of(app, c))) and w.replicas
    ]
    record = observed.record
    recorded = record.active_color if record and record.strategy == "blue_green" else None
    color = running[0] if len(running) == 1 else (recorded if recorded in running else BLUE)
    workload = _workload(observed, deployment_of(app, color))
    template = workload.template if workload is not None else stable_template(observed)
    labels = ((template or {}).get("metadata") or {}).get("labels") or {}
    return Serving(
        color,
        template,
        image_of(template, target.container),
        relabel=color == BLUE and labels.get(COLOR_LABEL) != BLUE,
        replicas=workload.replicas if workload is not None else 0,
    )


def spec_for(target: Target, now: Serving) -> BlueGreenSpec:
    """The rollout's parameters for ``target`` when ``now`` serves (exit 2 on bad input)."""
    settings = settings_of(target)
    service = app_service(target)
    rendered = primary_manifest(target)
    match = ((rendered.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    autoscaler = next(
        (str(o["metadata"]["name"]) for o in target.manifests if scales_app(o, target.deployment)),
        "",
    )
    return BlueGreenSpec(
        app=target.deployment,
        active=now.color,
        new=other(now.color),
        service=str(service["metadata"]["name"]),
        selector=tuple(sorted((str(k), str(v)) for k, v in service["spec"]["selector"].items())),
        pod_labels=tuple(sorted((str(k), str(v)) for k, v in match.items())),
        images=target.images,
        previous_images=tuple(images_of(now.template)) if now.template else (),
        timeout=target.timeout,
        # An HPA sized the serving colour: the new one starts as large, not smaller.
        replicas=max(target.replicas, now.replicas) if autoscaler else target.replicas,
        keep_seconds=settings.scale_down_delay.seconds / target.time_scale,
        keep_written=str(settings.scale_down_delay),
        auto_promote=settings.auto_promote,
        time_scale=target.time_scale,
        relabel=now.relabel,
        autoscaler=autoscaler,
        analysis=target.analysis,
        workloads=target.workloads,
        post_hooks=hooks_of(target.hooks, POST_DEPLOY),
    )


class BlueGreenStrategy:
    """The new version as the colour that does not serve, checked, switched (see the module)."""

    name = "blue_green"

    def validate(self, target: Target) -> None:
        """Exit 2 for a configuration this strategy cannot run (before the cluster is asked)."""
        app_service(target)

    def steps(self, target: Target, observed: Observed, previous_image: str | None) -> list[Step]:
        return list(self.plan(target, observed).steps)

    def plan(self, target: Target, observed: Observed) -> Plan:
        """The deploy's plan: a switch to the other colour, or a first rollout as blue."""
        if stable_template(observed) is None:
            return _first_plan(target, observed)
        record = observed.record
        notes = _notes(target)
        prelude: tuple[Step, ...] = ()
        if record is not None and record.phase in ("Progressing", "Paused") and record.plan:
            if (
                record.strategy == self.name
                and record.revision == target.image
                and record.manifests_digest == target.manifests_digest
                and not aborting(record)  # an abort was interrupted: it is finished first
            ):
                return self._continued(target, record, notes)
            prelude, now = _abort_first(record, observed, target)
            state = f"{record.phase.lower()} here"
            if aborting(record):
                state = f"being aborted here (that abort stopped at step {record.step})"
            notes += (
                f"the rollout of {record.revision} ({record.strategy}) is still {state}: it is"
                f" aborted first (all traffic back to {record.previous_revision}, the new version"
                " removed)",
            )
        else:
            now = serving(target, observed)
            held = _unchanged(target, observed, now)
            if held:
                return Plan(target, (), now.image, now.template, noop_reason=held)
        spec = spec_for(target, now)
        if spec.relabel:
            notes += (
                f"the pods of deployment/{target.deployment} carry no colour yet (an earlier "
                f"rolling or canary deploy): they are labelled {BLUE} first, so that Service "
                f"{spec.service} can select them alone while {spec.new} starts",
            )
        return self._plan(target, spec, now.image, now.template, prelude=prelude, notes=notes)

    def _plan(
        self,
        target: Target,
        spec: BlueGreenSpec,
        previous: str | None,
        template: Obj | None,
        **extra: Any,
    ) -> Plan:
        steps = tuple(rollout_steps(spec, target, previous, target.manifests))
        return Plan(
            target,
            steps,
            previous,
            template,
            deployment_exists=True,
            failure_paths=failure_paths(spec, steps, target.environment),
            total_seconds=stage_waits(steps),
            **extra,
        )

    def _continued(self, target: Target, record: StateRecord, notes: tuple[str, ...]) -> Plan:
        """The same image and manifests are in flight: hold at the gate, or continue the run
        that was interrupted, from the recorded step and with the recorded parameters."""
        assert record.plan is not None
        spec = BlueGreenSpec.from_dict(record.plan)
        previous, template = record.previous_revision, record.previous_template
        extra = continued(target, record)
        extra["notes"] = (*notes, *extra.get("notes", ()))
        return self._plan(target, spec, previous, template, **extra)

    def resume_steps(self, record: StateRecord, observed: Observed) -> list[Step]:
        """The rollout's steps rebuilt from the record (for ``promote``: no manifests)."""
        assert record.plan is not None
        spec = BlueGreenSpec.from_dict(record.plan)
        return rollout_steps(spec, target_of(record, spec), record.previous_revision)

    def resume_plan(self, record: StateRecord, observed: Observed, target: Target) -> Plan:
        """``promote``'s plan: the recorded rollout, continued after its gate."""
        assert record.plan is not None
        spec = BlueGreenSpec.from_dict(record.plan)
        steps = tuple(self.resume_steps(record, observed))
        return resumed_plan(target, record, steps, failure_paths(spec, steps, target.environment))

    def abort_steps(self, record: StateRecord, observed: Observed) -> list[Step]:
        """All traffic to the colour that served before, the new colour scaled to zero."""
        assert record.plan is not None
        spec = BlueGreenSpec.from_dict(record.plan)
        switched = switched_by(self.resume_steps(record, observed), recorded_number(record))
        message = (
            f"aborted: {record.revision} removed, {record.previous_revision} serves from "
            f"{spec.active}"
        )
        return undo_steps(spec, switched=switched, phase="Aborted", message=message)


def target_of(record: StateRecord, spec: BlueGreenSpec) -> Target:
    """A Target for the recorded rollout (no manifests: only what the later steps use)."""
    return recorded_target(
        record,
        timeout=spec.timeout,
        images=spec.images,
        replicas=spec.replicas,
        time_scale=spec.time_scale,
        primary=spec.app,
    )


def _abort_first(
    record: StateRecord, observed: Observed, target: Target
) -> tuple[tuple[Step, ...], Serving]:
    """The abort of the rollout in flight (of any progressive strategy), and what serves after."""
    from ci_deploy.rollout.strategies import ProgressiveStrategy, strategy_for

    strategy = strategy_for(record.strategy)
    assert isinstance(strategy, ProgressiveStrategy)
    steps = tuple(s for s in strategy.abort_steps(record, observed) if not isinstance(s, Record))
    template = record.previous_template
    color = BLUE
    if record.strategy == "blue_green":
        assert record.plan is not None
        color = BlueGreenSpec.from_dict(record.plan).active
    labels = ((template or {}).get("metadata") or {}).get("labels") or {}
    live = _workload(observed, target.deployment)
    live_labels = (((live.template if live else {}) or {}).get("metadata") or {}).get("labels")
    relabel = color == BLUE and BLUE not in (
        labels.get(COLOR_LABEL),
        (live_labels or {}).get(COLOR_LABEL),
    )
    return steps, Serving(color, template, record.previous_revision, relabel=relabel)


def _unchanged(target: Target, observed: Observed, now: Serving) -> str | None:
    """Why this deploy has nothing to do: the serving colour runs it, Succeeded, all ready."""
    record = observed.record
    workload = _workload(observed, deployment_of(target.deployment, now.color))
    if (
        record is not None
        and record.phase == "Succeeded"
        and record.revision == target.image
        and record.manifests_digest == target.manifests_digest
        and now.image == target.image
        and workload is not None
        and 0 < workload.replicas <= workload.ready
    ):
        return (
            f"{target.image} is already deployed and Succeeded in {target.environment} "
            f"({now.color} serves it)"
        )
    return None


def _notes(target: Target) -> tuple[str, ...]:
    settings = settings_of(target)
    notes = []
    if not isinstance(target.settings, BlueGreenConfig):
        notes.append(
            f"ci-deploy.yml has no `blue_green:` block: its defaults apply (auto_promote: "
            f"{str(settings.auto_promote).lower()}, scale_down_delay: {settings.scale_down_delay})"
        )
    if settings.environments:
        notes.append(
            "blue_green.environments (a cluster, load balancer target or database per colour) "
            f"are not used by this version: both colours run in namespace {target.namespace}"
        )
    analysis = target.analysis
    if analysis is not None and analysis.triggers and settings.scale_down_delay.seconds <= 0:
        notes.append(
            "blue_green.rollback_triggers are not judged after the switch: blue_green."
            "scale_down_delay is 0, so there is no time in which the previous colour waits"
        )
    if any(o.get("kind") == "HTTPRoute" for o in target.manifests):
        notes.append(
            "HTTPRoutes keep their backendRefs to the app's Service: its selector is the switch"
        )
    return tuple(notes)


def _first_plan(target: Target, observed: Observed) -> Plan:
    """No version serves yet: roll the app-named Deployment out directly, as blue."""
    from ci_deploy.rollout.plan import make_rolling_plan

    service = str(app_service(target)["metadata"]["name"])
    manifests = tuple(
        color_manifest(o, target.deployment, BLUE, None)
        if o.get("kind") == "Deployment" and o["metadata"]["name"] == target.deployment
        else o
        for o in (*routed_objects(target, service, BLUE), primary_manifest(target))
    )
    first = replace(target, manifests=manifests)
    plan = make_rolling_plan(first, observed)
    *head, last = plan.steps
    note = (
        f"no version serves here yet: the first deploy rolls deployment/{target.deployment} "
        f"out directly as {BLUE} ({COLOR_LABEL}={BLUE}), and Service {service} selects the "
        f"{BLUE} pods"
    )
    return replace(plan, steps=(*head, RecordColor(BLUE), last), notes=(*_notes(target), note))


# -- rollback on demand -------------------------------------------------------------------------
@dataclass(frozen=True)
class Colors:
    """A blue-green environment as read for a rollback on demand (``rollback`` reads it)."""

    app: str
    serving: str  # the colour the app's Service selects
    service: str
    pod_labels: tuple[tuple[str, str], ...]  # the app-named Deployment's matchLabels
    replicas: int  # of the serving colour
    serving_template: Obj | None = field(default=None, compare=False)
    back_template: Obj | None = field(default=None, compare=False)  # the other colour's now
    autoscaler: str = ""

    def spec(self, timeout: float) -> BlueGreenSpec:
        """The parameters of the switch back (the other colour becomes the serving one)."""
        return BlueGreenSpec(
            app=self.app,
            active=self.serving,
            new=other(self.serving),
            service=self.service,
            selector=(),
            pod_labels=self.pod_labels,
            images=(),
            previous_images=(),
            timeout=timeout,
            replicas=self.replicas,
            keep_seconds=0.0,
            keep_written="",
            autoscaler=self.autoscaler,
        )


def rollback_steps(colors: Colors, template: Obj, image: str, timeout: float) -> list[Step]:
    """Back to ``template`` on the other colour: it gets the template if it lost it, comes up at
    full size, is verified, then the Service is switched to it and the serving colour retired."""
    from ci_deploy.kube.health import strip_hash
    from ci_deploy.rollout.steps import RestoreTemplate

    spec = colors.spec(timeout)
    back, now = spec.new, spec.active
    # The recorded template may predate the colours (recorded before its pods were labelled).
    template = copy.deepcopy(template)
    meta = template.setdefault("metadata", {})
    meta["labels"] = {**(meta.get("labels") or {}), COLOR_LABEL: back}
    steps: list[Step] = []
    if colors.back_template is None or strip_hash(colors.back_template) != strip_hash(template):
        steps.append(RestoreTemplate(spec.deployment(back), image, template))
    steps += [
        ScaleColor(spec.deployment(back), back, spec.pods(back), spec.replicas, timeout),
        WaitForRollout(spec.deployment(back), timeout, spec.pods(back)),
        VerifyRunning(spec.deployment(back), tuple(images_of(template)), spec.pods(back)),
        RouteTraffic(spec.service, back, spec.deployment(back), spec.autoscaler),
        ScaleColor(spec.deployment(now), now, spec.pods(now), 0, timeout),
    ]
    return steps
