"""Pruning: objects ci-deploy applied for the app earlier that this deploy no longer renders.

Every strategy's plan has a Prune step just before its final ``record phase Succeeded``, and
``with_pruning`` makes its Apply step record the app's ApplySet members on the parent first
(kube/applyset.py): the Prune step deletes the members the parent no longer lists — so only
once the new version is healthy, never on a failure path, and never an object ci-deploy did
not apply. Workloads a strategy makes and manages itself (a canary, a blue-green colour) are
not pruned. ``--no-prune`` keeps the step, which then deletes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from ci_deploy.kube.apply import apply_object, object_ref
from ci_deploy.kube.applyset import (
    ApplySet,
    Membership,
    delete,
    kind_of_key,
    member_key,
    parent_object,
    read_parent,
    stale_members,
)
from ci_deploy.kube.client import KubeClient, Obj
from ci_deploy.kube.errors import ApiError, NetworkError
from ci_deploy.rollout.labels import COLOR_LABEL, TRACK_LABEL
from ci_deploy.rollout.plan import Plan, Target
from ci_deploy.rollout.session import RolloutContext
from ci_deploy.rollout.steps import Apply, Step

STRATEGY_LABELS = (TRACK_LABEL, COLOR_LABEL)
_SHOWN = 6


@dataclass(frozen=True)
class Prune(Step):
    """Delete the app's ApplySet members that the last apply did not list."""

    applyset: ApplySet
    enabled: bool = True
    # what a printed plan would delete (None: not looked up, as in a promote's plan)
    candidates: tuple[str, ...] | None = field(default=None, compare=False)
    name = "prune"

    def describe(self) -> str:
        if not self.enabled:
            return "prune: skipped (--no-prune); objects no longer rendered are left"
        if self.candidates is None:
            return "prune what earlier deploys applied and this one no longer renders"
        if not self.candidates:
            return "prune: nothing left over from earlier deploys"
        shown = ", ".join(self.candidates[:_SHOWN])
        more = " …" if len(self.candidates) > _SHOWN else ""
        return f"prune {len(self.candidates)} objects no longer rendered: {shown}{more}"

    def run(self, ctx: RolloutContext) -> None:
        if not self.enabled:
            ctx.progress.line("prune skipped (--no-prune)")
            return
        try:
            pruned = prune(ctx.client, self.applyset)
        except (ApiError, NetworkError) as exc:
            # The new version is healthy and stays: a prune that fails is a warning, and the
            # objects it could not delete are still members, for the next deploy to prune.
            ctx.progress.platform.warning(f"pruning failed, nothing more was deleted: {exc}")
            return
        for ref in pruned:
            ctx.progress.line(f"pruned {ref} (no longer rendered)")
        if not pruned:
            ctx.progress.line("prune: nothing left over from earlier deploys")


def prune(client: KubeClient, applyset: ApplySet) -> list[str]:
    """Delete the stale members; then the parent lists only the kinds of its members."""
    kinds, members = read_parent(client, applyset)
    if members is None:
        return []  # no parent: ci-deploy never recorded a set here, so it prunes nothing
    stale = stale_members(client, applyset, kinds, members, exclude_labels=STRATEGY_LABELS)
    done = []
    for obj in stale:
        delete(client, obj)
        done.append(object_ref(obj))
    apply_object(client, parent_object(applyset, members, ()))
    return done


def stale_objects(client: KubeClient, target: Target) -> list[Obj]:
    """The objects a deploy of ``target`` would prune now, as the cluster has them."""
    applyset = ApplySet(target.app, target.namespace)
    current = {member_key(obj) for obj in target.manifests}
    live_kinds, _ = read_parent(client, applyset)
    kinds = live_kinds | {kind_of_key(key) for key in current}
    return stale_members(client, applyset, kinds, current, exclude_labels=STRATEGY_LABELS)


def candidates(client: KubeClient, target: Target) -> tuple[str, ...]:
    """What a deploy of ``target`` would prune now (for the printed plan)."""
    return tuple(object_ref(obj) for obj in stale_objects(client, target))


def with_pruning(plan: Plan, *, enabled: bool = True) -> Plan:
    """``plan`` with its Apply step recording the app's set first and its Prune step (every
    strategy has one, before ``record phase Succeeded``) switched on or off."""
    target = plan.target
    applyset = ApplySet(target.app, target.namespace)
    members = tuple(sorted(member_key(obj) for obj in target.manifests))
    steps = []
    for step in plan.steps:
        if isinstance(step, Apply) and target.manifests:
            step = replace(step, membership=Membership(applyset, members))
        elif isinstance(step, Prune):
            # a resumed plan's steps are rebuilt from the record, which has no namespace
            step = replace(step, applyset=applyset, enabled=enabled)
        steps.append(step)
    return replace(plan, steps=tuple(steps))


def with_candidates(plan: Plan, client: KubeClient) -> Plan:
    """``plan`` with its Prune step saying what it would delete (a printed plan)."""
    steps = tuple(
        replace(s, candidates=candidates(client, plan.target))
        if isinstance(s, Prune) and s.enabled
        else s
        for s in plan.steps
    )
    return replace(plan, steps=steps)
