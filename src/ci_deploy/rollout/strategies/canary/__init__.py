"""Canary: the new version beside the stable one, more traffic stage by stage, then promoted.

The stable Deployment (named after the app) keeps running the stable version at its full size
the whole time, so an abort is instant: traffic goes back and the canary goes away. The canary
is a second Deployment, ``<app>-canary``, made from the rendered one, whose pods carry
``ci-deploy.dev/track: canary`` (the stable pods carry ``stable``, for routers and metric
queries). Its size follows the router's ``split`` of each stage's weight; a HorizontalPodAutoscaler
keeps scaling the stable Deployment only (it targets it by name), and the canary is sized from
the stable Deployment's replica count as it is when each stage starts, so the two never fight.

Each stage is: set the weight (scale the canary, wait until its pods are ready, move the router),
watch for the stage's duration (the canary must stay healthy; metric analysis plugs in here),
and optionally pause for a manual ``promote``. The last stage (100 %) promotes: the stable
Deployment gets the new template, traffic returns to it alone, and the canary is removed.

With ``canary.baseline`` a third Deployment, ``<app>-baseline``, runs the stable version's pod
template (freshly started, ``track: baseline``) at the canary's size and share, so metrics
compare the canary with pods as new and as loaded as it is, not with the warm stable set. It
starts after the canary, is scaled with it at each stage and goes with it; at the first stage of
50 % or more it is removed (the two would leave the stable version no traffic: see
``baseline_runs_at``), and the comparison from there on is with the stable set, by then no
larger than the canary.

Everything a later job needs (stages, router, object names, the Deployment to promote) is
recorded when the rollout starts (``record.plan``), so ``promote`` and ``abort`` rebuild the
very same steps from the cluster alone (the baseline's template is the recorded stable one).

Here: the plans (the rollout's steps, its undo paths, the strategy). ``spec``: what a canary
rollout is, as recorded, and the Deployments and names made from the rendered objects.
``steps``: the canary's own steps.
"""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any

from ci_deploy.kube.applyset import ApplySet
from ci_deploy.kube.state import StateRecord
from ci_deploy.rollout.hooks import POST_DEPLOY, hook_steps
from ci_deploy.rollout.plan import (
    FailurePath,
    Observed,
    Plan,
    Target,
    continued,
    image_of,
    images_of,
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
    RecordStable,
    RestoreTemplate,
    Smoke,
    Step,
    VerifyRunning,
    WaitForRollout,
    Watch,
    others_wait,
)
from ci_deploy.rollout.strategies.canary.spec import (
    BASELINE_SUFFIX,
    CANARY_SUFFIX,
    PLAN_VERSION,
    CanarySpec,
    Stage,
    baseline_manifest,
    canary_manifest,
    spec_for,
    stages_of,
    template_with_track,
    traffic_names,
    with_track,
)
from ci_deploy.rollout.strategies.canary.steps import (
    LabelStable,
    PrepareTraffic,
    PromoteStable,
    RemoveBaseline,
    RemoveCanary,
    ResetTraffic,
    SetWeight,
    StartBaseline,
    StartCanary,
    TrafficToStable,
)
from ci_deploy.rollout.traffic import (
    BASELINE_BELOW,
    TRACK_LABEL,
    Split,
    router_for,
)

__all__ = [
    "BASELINE_SUFFIX",
    "CANARY_SUFFIX",
    "PLAN_VERSION",
    "CanarySpec",
    "CanaryStrategy",
    "LabelStable",
    "PrepareTraffic",
    "PromoteStable",
    "RemoveBaseline",
    "RemoveCanary",
    "ResetTraffic",
    "SetWeight",
    "Stage",
    "StartBaseline",
    "StartCanary",
    "TrafficToStable",
    "baseline_manifest",
    "canary_manifest",
    "failure_paths",
    "promoted_by",
    "recorded_number",
    "rollout_steps",
    "spec_for",
    "stages_of",
    "template_with_track",
    "traffic_names",
    "undo_steps",
    "with_track",
]

Obj = dict[str, Any]


# -- the plans ----------------------------------------------------------------------------------
def rollout_steps(
    spec: CanarySpec,
    target: Target,
    previous_image: str | None,
    manifests: tuple[Obj, ...] = (),
    stable: Obj | None = None,
) -> list[Step]:
    """The canary's steps, from its spec alone (the same list in deploy and in promote);
    ``stable`` is the stable pod template (recorded), the baseline's."""
    names = spec.names
    primary = _primary_in(manifests, target.deployment)
    others = tuple(_narrowed(o, spec) for o in manifests if o is not primary)
    other_refs = tuple(r for r in target.objects if r != f"Deployment {target.deployment}")
    steps: list[Step] = [RecordStable(previous_image, plan=spec.to_dict())]
    if spec.relabel:  # before the apply, which may narrow the Service to the stable pods
        steps += [
            LabelStable(names.stable_deployment),
            WaitForRollout(names.stable_deployment, spec.timeout, spec.stable_selector),
        ]
    steps.append(Apply(other_refs, target.image, others, ""))
    steps += others_wait(spec.workloads, spec.timeout)
    steps += _start_steps(spec, target.image, previous_image, stable)
    if spec.analysis is not None and spec.analysis.smoke:
        # the canary's own Service with a weighing router; with replicas, the app's Service
        # (the checks then reach stable and canary pods alike: say so in the URL you write)
        service = names.canary_service if spec.router != "replicas" else names.stable_service
        steps.append(Smoke("before traffic reaches the canary", service, analysis=spec.analysis))
    steps.append(PrepareTraffic(spec.router, names))
    baseline_left = spec.baseline
    for stage in spec.stages:
        if stage.weight >= 100:
            steps += _promotion(spec, target.image, stage, target.environment, baseline_left)
            continue
        steps.append(_set_weight(spec, stage))
        if baseline_left and not spec.baseline_at(stage):
            steps.append(_remove_baseline(spec, BASELINE_WHY))
            baseline_left = False
        steps += _watches(spec, stage, names.canary_deployment, spec.canary_selector)
        if stage.pause:
            steps.append(Pause(f"after stage {stage.name}", target.environment))
    steps += hook_steps(spec.post_hooks, POST_DEPLOY, spec.timeout)
    steps.append(Prune(ApplySet(target.app, target.namespace)))  # healthy: what is left over goes
    steps.append(Record("Succeeded"))
    return steps


def _narrowed(obj: Obj, spec: CanarySpec) -> Obj:
    """The app's Service as applied during a canary with a router that weighs requests: it
    selects the stable pods only. ``Service.spec.selector`` is an atomic map, so an apply of
    the bare rendered selector would replace the router's narrowing and send canary pods a
    share of the stable Service's traffic (after a restart from an early step, say)."""
    if spec.router == "replicas" or obj.get("kind") != "Service":
        return obj
    if obj["metadata"]["name"] != spec.names.stable_service:
        return obj
    out = copy.deepcopy(obj)
    out["spec"]["selector"] = {**out["spec"]["selector"], TRACK_LABEL: "stable"}
    return out


BASELINE_WHY = (
    f"from {BASELINE_BELOW:g}% on, a baseline with the canary's share would leave the stable "
    "version no traffic; the canary is compared with the stable set from here"
)


def _start_steps(
    spec: CanarySpec, image: str, previous_image: str | None, stable: Obj | None
) -> list[Step]:
    """Start the canary at the first stage's size, then the baseline beside it (if on)."""
    names = spec.names
    first = next((s for s in spec.stages if s.weight < 100), None)
    pods = _planned(spec, first).canary_pods if first else 1
    steps: list[Step] = [
        StartCanary(
            names.canary_deployment,
            image,
            pods,
            canary_manifest(spec.manifest, names, pods) if spec.manifest else {},
        ),
        WaitForRollout(names.canary_deployment, spec.timeout, spec.canary_selector),
        VerifyRunning(names.canary_deployment, spec.images, spec.canary_selector),
    ]
    if not spec.baseline:
        return steps
    manifest = baseline_manifest(spec.manifest, stable, names, pods) if stable else {}
    return [
        *steps,
        StartBaseline(names.baseline_deployment, previous_image or "", pods, manifest),
        WaitForRollout(names.baseline_deployment, spec.timeout, spec.baseline_selector),
        VerifyRunning(
            names.baseline_deployment,
            tuple(images_of(stable)) if stable else (),
            spec.baseline_selector,
        ),
    ]


def _planned(spec: CanarySpec, stage: Stage) -> Split:
    """The split of ``stage`` at the planned stable size (with the baseline if it runs)."""
    return router_for(spec.router).split(
        stage.weight, spec.stable_replicas, baseline=spec.baseline_at(stage)
    )


def _set_weight(spec: CanarySpec, stage: Stage) -> SetWeight:
    return SetWeight(
        spec.router,
        spec.names,
        stage.name,
        stage.weight,
        _planned(spec, stage),
        spec.timeout,
        spec.canary_selector,
        spec.baseline_selector if spec.baseline_at(stage) else "",
    )


def _remove_baseline(spec: CanarySpec, why: str = "") -> RemoveBaseline:
    return RemoveBaseline(
        spec.names.baseline_deployment, spec.baseline_selector, spec.timeout, why=why
    )


def _primary_in(manifests: tuple[Obj, ...], app: str) -> Obj | None:
    return next(
        (o for o in manifests if o.get("kind") == "Deployment" and o["metadata"]["name"] == app),
        None,
    )


def _watches(
    spec: CanarySpec, stage: Stage, deployment: str, selector: str, track: str = "canary"
) -> list[Step]:
    """Watch the stage's duration (and its monitor time), judged on ``track``'s metrics; a
    stage whose rules would otherwise never be judged gets a watch of no time."""
    # the baseline runs beside the canary in this stage: the canary is compared with it
    compared = track == "canary" and spec.baseline and spec.baseline_at(stage)
    judged = spec.analysis is not None and (
        bool(spec.analysis.rules(stage.name, track))
        or (compared and spec.analysis.baseline is not None)
    )
    timed = [
        (stage.seconds, stage.written, "watch"),
        (stage.monitor, stage.monitor_written, "monitor"),
    ]
    steps: list[Step] = [
        Watch(
            f"stage {stage.name}",
            seconds,
            written,
            deployment,
            selector,
            stage.criteria,
            what=what,
            analysis=spec.analysis,
            stage=stage.name,
            track=track,
            baseline=compared,
        )
        for seconds, written, what in timed
        if seconds > 0
    ]
    if not steps and judged:
        steps.append(
            Watch(
                f"stage {stage.name}",
                0.0,
                "",
                deployment,
                selector,
                stage.criteria,
                what="judge after",
                analysis=spec.analysis,
                stage=stage.name,
                track=track,
                baseline=compared,
            )
        )
    return steps


def _promotion(
    spec: CanarySpec, image: str, stage: Stage, environment: str, baseline: bool
) -> list[Step]:
    """Promote, traffic back to the stable Deployment, the canary (and ``baseline``) removed."""
    names = spec.names
    steps: list[Step] = []
    if stage.pause:
        steps.append(Pause(f"after stage {stage.name} (before promoting)", environment))
    steps += [
        PromoteStable(names.stable_deployment, image, spec.manifest),
        WaitForRollout(names.stable_deployment, spec.timeout, spec.stable_selector),
        VerifyRunning(names.stable_deployment, spec.images, spec.stable_selector),
        TrafficToStable(spec.router, names),
        RemoveCanary(names.canary_deployment, spec.canary_selector, spec.timeout),
        *([_remove_baseline(spec)] if baseline else []),
        ResetTraffic(spec.router, names),
    ]
    steps += _watches(spec, stage, names.stable_deployment, spec.stable_selector, "stable")
    return steps


def undo_steps(
    spec: CanarySpec,
    previous_image: str | None,
    previous_template: Obj | None,
    *,
    promoted: bool,
    phase: str,
    message: str = "",
) -> list[Step]:
    """Traffic back to stable, the canary (and baseline) removed; after a promotion, the
    stable restored."""
    names = spec.names
    steps: list[Step] = [
        TrafficToStable(spec.router, names),
        RemoveCanary(names.canary_deployment, spec.canary_selector, spec.timeout),
        *([_remove_baseline(spec)] if spec.baseline else []),
        ResetTraffic(spec.router, names),
    ]
    if promoted and previous_template is not None:
        images = tuple(images_of(previous_template))
        steps += [
            RestoreTemplate(names.stable_deployment, previous_image, previous_template),
            WaitForRollout(names.stable_deployment, spec.timeout, spec.stable_selector),
            VerifyRunning(names.stable_deployment, images, spec.stable_selector),
        ]
    steps.append(Record(phase, message))
    return steps


def promoted_by(steps: list[Step] | tuple[Step, ...], number: int) -> bool:
    """Whether step ``number`` (1-based) is at or after the promotion (the stable may differ)."""
    at = next((i for i, s in enumerate(steps, 1) if isinstance(s, PromoteStable)), None)
    return at is not None and number >= at


class CanaryStrategy:
    """Stages of increasing traffic on a canary Deployment, then promotion (see the module)."""

    name = "canary"

    def validate(self, target: Target) -> None:
        """Exit 2 for a configuration this strategy cannot run (before the cluster is asked)."""
        spec_for(target)

    def steps(self, target: Target, observed: Observed, previous_image: str | None) -> list[Step]:
        return list(self.plan(target, observed).steps)

    def plan(self, target: Target, observed: Observed) -> Plan:
        """The deploy's plan: a canary, or a direct rollout when there is nothing stable."""
        from ci_deploy.rollout.plan import make_rolling_plan

        template = stable_template(observed)
        stable = observed.workload("stable")
        if template is None or stable is None:
            first = replace(target, manifests=_first_manifests(target))
            note = (
                "no stable version here yet: the first deploy rolls out directly (a canary needs "
                "a stable version to run beside)"
            )
            return replace(make_rolling_plan(first, observed), notes=(note,))
        record = observed.record
        if record is not None and record.phase in ("Progressing", "Paused") and record.plan:
            if (
                record.revision == target.image
                and record.manifests_digest == target.manifests_digest
                and not aborting(record)  # an abort was interrupted: it is finished first
            ):
                return self._continued(target, record)
            prelude, note = _abort_first(target, record)
        else:
            prelude, note = (), ""
        labels = ((observed.live_template or {}).get("metadata") or {}).get("labels") or {}
        spec = replace(spec_for(target), relabel=labels.get(TRACK_LABEL) != "stable")
        previous = image_of(template, target.container)
        return self._plan(
            target,
            spec,
            previous,
            template_with_track(template, "stable"),
            prelude=prelude,
            notes=(note,) if note else (),
        )

    def _plan(
        self,
        target: Target,
        spec: CanarySpec,
        previous: str | None,
        template: Obj | None,
        **extra: Any,
    ) -> Plan:
        steps = tuple(rollout_steps(spec, target, previous, target.manifests, template))
        if spec.baseline:
            extra["notes"] = (*extra.get("notes", ()), baseline_note(spec))
        return Plan(
            target,
            steps,
            previous,
            template,
            deployment_exists=True,
            failure_paths=failure_paths(spec, previous, template, steps, target.environment),
            total_seconds=stage_waits(steps),
            **extra,
        )

    def _continued(self, target: Target, record: StateRecord) -> Plan:
        """The same image and manifests are in flight: hold at the gate, or continue the run
        that was interrupted, from the recorded step and with the recorded parameters."""
        assert record.plan is not None
        spec = CanarySpec.from_dict(record.plan)
        previous, template = record.previous_revision, record.previous_template
        return self._plan(target, spec, previous, template, **continued(target, record))

    def resume_steps(self, record: StateRecord, observed: Observed) -> list[Step]:
        """The rollout's steps rebuilt from the record (for ``promote``: no manifests)."""
        assert record.plan is not None
        spec = CanarySpec.from_dict(record.plan)
        target = target_of(record, spec, observed)
        return rollout_steps(
            spec, target, record.previous_revision, stable=record.previous_template
        )

    def resume_plan(self, record: StateRecord, observed: Observed, target: Target) -> Plan:
        """``promote``'s plan: the recorded rollout, continued after its gate."""
        assert record.plan is not None
        steps = tuple(self.resume_steps(record, observed))
        spec = CanarySpec.from_dict(record.plan)
        paths = failure_paths(
            spec, record.previous_revision, record.previous_template, steps, target.environment
        )
        return resumed_plan(target, record, steps, paths)

    def abort_steps(self, record: StateRecord, observed: Observed) -> list[Step]:
        """All traffic to stable, the canary removed, the stable restored if it was promoted."""
        assert record.plan is not None
        spec = CanarySpec.from_dict(record.plan)
        promoted = promoted_by(self.resume_steps(record, observed), recorded_number(record))
        message = f"aborted: {record.revision} removed, {record.previous_revision} serves"
        return undo_steps(
            spec,
            record.previous_revision,
            record.previous_template,
            promoted=promoted,
            phase="Aborted",
            message=message,
        )


def failure_paths(
    spec: CanarySpec,
    previous: str | None,
    template: Obj | None,
    steps: tuple[Step, ...],
    environment: str,
) -> tuple[FailurePath, ...]:
    """What a failure does, before and after the promotion (as printed by ``plan``)."""
    before = undo_steps(spec, previous, template, promoted=False, phase="RolledBack")
    after = undo_steps(spec, previous, template, promoted=True, phase="RolledBack")
    at = next((i for i, s in enumerate(steps, 1) if isinstance(s, PromoteStable)), None)
    removed = "the canary and the baseline" if spec.baseline else "the canary"
    return (
        FailurePath(
            f"on failure before step {at} (promotion): the stable version never stopped "
            f"serving; send all traffic back to it and remove {removed} (exit 1)",
            tuple(before),
        ),
        FailurePath(
            f"on failure from step {at} on: roll the stable Deployment back to {previous} (exit 1)",
            tuple(after),
        ),
        FailurePath(
            f"abort (`ci-deploy abort --env {environment}`) while paused: the "
            "same as a failure, recorded as Aborted (exit 0)",
            (),
        ),
    )


def baseline_note(spec: CanarySpec) -> str:
    """What the plan says about the baseline: where it runs, with which share, and until when."""
    runs = [s.name for s in spec.stages if spec.baseline_at(s)]
    text = (
        f"a baseline, deployment/{spec.names.baseline_deployment} (the stable version, freshly "
        f"started, {TRACK_LABEL}=baseline), runs beside the canary at stage "
        f"{', '.join(runs)} with the canary's pod count and traffic share, for a like-for-like "
        "comparison"
    )
    if len(runs) < len([s for s in spec.stages if s.weight < 100]):
        text += (
            f"; it is removed at the first stage of {BASELINE_BELOW:g}% or more (the two would "
            "leave the stable version no traffic)"
        )
    return text


def _abort_first(target: Target, record: StateRecord) -> tuple[tuple[Step, ...], str]:
    """The steps that abort a canary still in flight, before a new one starts."""
    assert record.plan is not None
    old = CanarySpec.from_dict(record.plan)
    promoted = promoted_by(rollout_steps(old, target, None), recorded_number(record))
    steps = undo_steps(
        old, record.previous_revision, record.previous_template, promoted=promoted, phase="Aborted"
    )[:-1]
    state = f"{record.phase.lower()} here"
    if aborting(record):
        state = f"being aborted here (that abort stopped at step {record.step})"
    note = (
        f"the canary of {record.revision} is still {state}: it is aborted "
        f"first (all traffic back to stable, the canary{' and baseline' if old.baseline else ''} "
        "removed)"
    )
    return tuple(steps), note


def target_of(record: StateRecord, spec: CanarySpec, observed: Observed) -> Target:
    """A Target for the recorded rollout (no manifests: only what the later steps use)."""
    return recorded_target(
        record,
        timeout=spec.timeout,
        images=spec.images,
        replicas=spec.stable_replicas,
        time_scale=spec.time_scale,
        primary=spec.names.stable_deployment,
    )


def _first_manifests(target: Target) -> tuple[Obj, ...]:
    """The rendered objects with the app's pods on the stable track (a first deploy)."""
    return tuple(
        with_track(o, "stable")
        if o.get("kind") == "Deployment" and o["metadata"]["name"] == target.deployment
        else o
        for o in target.manifests
    )
