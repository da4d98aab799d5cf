"""``ci-deploy diff`` and the changes line of ``plan``: what a deploy would change, object by
object, from the plan's own apply step (a server-side dry run of each object) and its prune
step (the stale members of the app's ApplySet, shown deleted)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from ci_deploy.kube.apply import ApplyError, object_ref
from ci_deploy.kube.client import KubeClient, Obj
from ci_deploy.kube.diff import ObjectDiff, created_as_rendered, diff_objects, object_diff, summary
from ci_deploy.rollout.plan import Plan
from ci_deploy.rollout.prune import Prune, stale_objects
from ci_deploy.rollout.steps import Apply


@dataclass(frozen=True)
class Changes:
    """The diffs of a deploy's plan, and what people should know about what is not in them."""

    diffs: tuple[ObjectDiff, ...]
    notes: tuple[str, ...] = ()
    refused: str = ""  # the dry run refused an object: what the API server said

    @property
    def changed(self) -> bool:
        """Anything would be created, changed or pruned."""
        return any(d.change != "unchanged" for d in self.diffs)

    def summary(self) -> str:
        if self.refused:
            return f"the API server refuses in a dry run: {self.refused}"
        return summary(list(self.diffs))


def applied_objects(plan: Plan) -> tuple[list[Obj], tuple[str, ...]]:
    """The objects the plan's apply step sends, and a note when the primary is not among them
    (a canary or blue-green plan rolls it out by steps of its own)."""
    target = plan.target
    apply = next((s for s in plan.steps if isinstance(s, Apply)), None)
    if apply is None or apply.deployment:  # a rolling plan (or nothing to do): everything
        return list(target.manifests), ()
    note = (
        f"deployment/{target.deployment} is not in the diff: the {target.strategy} strategy rolls "
        "it out by the steps of the plan"
    )
    return list(apply.manifests), (note,)


def plan_changes(client: KubeClient, plan: Plan, *, namespace_missing: bool) -> Changes:
    """What deploying ``plan`` would change (or what the dry run refused)."""
    objects, notes = applied_objects(plan)
    if namespace_missing:
        note = (
            f"namespace {plan.target.namespace} does not exist yet (a deploy creates it): "
            "objects are shown as rendered, without the API server's defaults"
        )
        return Changes(tuple(created_as_rendered(objects)), (*notes, note))
    try:
        diffs = diff_objects(client, objects)
    except ApplyError as exc:
        return Changes((), notes, refused=str(exc))
    prune = next((s for s in plan.steps if isinstance(s, Prune)), None)
    if prune is not None and prune.enabled and plan.target.prune:
        diffs += [object_diff(object_ref(o), o, None) for o in stale_objects(client, plan.target)]
    return Changes(tuple(diffs), notes)


def with_changes(plan: Plan, changes: Changes) -> Plan:
    """``plan`` with the line that summarizes ``changes``."""
    return replace(plan, changes=changes.summary())
