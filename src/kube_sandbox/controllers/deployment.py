"""The Deployment controller: ReplicaSets per pod template, rolling and recreate rollouts, status.

One reconcile does what one sync of kube-controller-manager's deployment controller does: find
or create the new ReplicaSet, scale new up or old down by at most one step, then write status
(with the Progressing deadline). Scaling changes come back as ReplicaSet/Pod events, which
trigger the next step, so a rollout advances as fast as pods become available.
"""

from __future__ import annotations

import copy
import json

from kube_sandbox.controllers import deployment_util as du
from kube_sandbox.controllers.common import (
    adopt_orphans,
    condition,
    get_condition,
    now_iso,
    owner_reference,
    parse_time,
    set_condition,
)
from kube_sandbox.controllers.context import DEPLOYMENTS, PODS, REPLICASETS, Context, edit
from kube_sandbox.storage.store import Obj, StoreError

COMPONENT = "deployment-controller"
TEMPLATE_MEMO = 4096  # entries before the template memo starts over
CONDITION_ORDER = {"Available": 0, "Progressing": 1, "ReplicaFailure": 2}


class DeploymentController:
    """Reconciles one Deployment at a time.

    It remembers, per Deployment uid, the exact moment of the last progress: the condition's
    lastUpdateTime has one-second resolution, too coarse for short progress deadlines.
    """

    def __init__(self) -> None:
        # (namespace, name) -> (uid, lastUpdateTime text, exact time)
        self._progress_at: dict[tuple[str, str], tuple[str, str, float]] = {}
        self._templates: dict[int, tuple[Obj, str]] = {}  # id(spec) -> (spec, template text)

    def reconcile(self, ctx: Context, namespace: str, name: str) -> None:
        """One sync of a Deployment."""
        d = ctx.cache.get(DEPLOYMENTS, namespace, name)
        if d is None:
            self._progress_at.pop((namespace, name), None)
            return
        if d["metadata"].get("deletionTimestamp") or not d["spec"].get("template"):
            return
        status: Obj = copy.deepcopy(d.get("status") or {})
        adopt_orphans(ctx, d, REPLICASETS)
        rss = [
            rs
            for rs in ctx.cache.children(REPLICASETS, d["metadata"]["uid"])
            if not rs["metadata"].get("deletionTimestamp")
        ]
        if d["spec"].get("paused"):
            self._sync_paused(ctx, d, rss, status)
        elif du.is_recreate(d):
            self._recreate(ctx, d, rss, status)
        else:
            self._rolling(ctx, d, rss, status)

    # -- finding and creating the new ReplicaSet ----------------------------------------------
    def _split(self, d: Obj, rss: list[Obj]) -> tuple[Obj | None, list[Obj]]:
        """(the ReplicaSet whose template is the Deployment's, the others)."""
        template = self._template_key(d)
        matches = du.by_creation([rs for rs in rss if self._template_key(rs) == template])
        new = matches[0] if matches else None
        old = [rs for rs in rss if new is None or rs["metadata"]["uid"] != new["metadata"]["uid"]]
        return new, old

    def _template_key(self, obj: Obj) -> str:
        """The canonical template text, memoised by the identity of the stored spec.

        Stored objects are never changed in place and the store shares one spec dict between
        versions that only differ in status, so the same dict means the same template; the
        memo holds the dict itself, so its id cannot be reused while the entry exists.
        """
        spec = obj["spec"]
        hit = self._templates.get(id(spec))
        if hit is not None and hit[0] is spec:
            return hit[1]
        if len(self._templates) >= TEMPLATE_MEMO:
            self._templates.clear()
        text = json.dumps(du.without_hash(spec["template"]), sort_keys=True)
        self._templates[id(spec)] = (spec, text)
        return text

    def _new_rs(
        self, ctx: Context, d: Obj, rss: list[Obj], status: Obj, *, create: bool
    ) -> Obj | None:
        """The ReplicaSet for the current template (getNewReplicaSet), created when asked."""
        new, old = self._split(d, rss)
        revision = max((du.revision_of(rs) for rs in old), default=0) + 1
        now = now_iso()
        if new is not None:
            fresh = edit(new, "spec")
            changed = du.rs_annotations(d, fresh, revision, created=False)
            min_ready = d["spec"].get("minReadySeconds", 0) or 0
            resized = (fresh["spec"].get("minReadySeconds", 0) or 0) != min_ready
            if resized:
                fresh["spec"]["minReadySeconds"] = min_ready
            if changed or resized:
                new = (
                    ctx.update_spec(REPLICASETS, fresh)
                    if resized
                    else ctx.update(REPLICASETS, fresh)
                )
            if du.progress_deadline(d) is not None and get_condition(status, "Progressing") is None:
                msg = f'Found new replica set "{new["metadata"]["name"]}"'
                set_condition(
                    status, condition("Progressing", "True", "FoundNewReplicaSet", msg, now)
                )
            return new
        if not create:
            return None
        return self._create_rs(ctx, d, rss, status, revision)

    def _create_rs(
        self, ctx: Context, d: Obj, rss: list[Obj], status: Obj, revision: int
    ) -> Obj | None:
        meta = d["metadata"]
        pod_hash = du.template_hash(d["spec"]["template"], status.get("collisionCount"))
        template = copy.deepcopy(d["spec"]["template"])
        template.setdefault("metadata", {}).setdefault("labels", {})[du.HASH_LABEL] = pod_hash
        selector = copy.deepcopy(d["spec"].get("selector") or {})
        selector.setdefault("matchLabels", {})[du.HASH_LABEL] = pod_hash
        size = du.new_rs_replicas(d, rss, None)
        spec: Obj = {"replicas": size, "selector": selector, "template": template}
        if d["spec"].get("minReadySeconds"):
            spec["minReadySeconds"] = d["spec"]["minReadySeconds"]
        rs: Obj = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": f"{meta['name']}-{pod_hash}",
                "namespace": meta.get("namespace", ""),
                "labels": dict(template["metadata"]["labels"]),
                "annotations": {
                    du.DESIRED_REPLICAS: str(du.replicas(d)),
                    du.MAX_REPLICAS: str(du.replicas(d) + du.max_surge(d)),
                },
                "ownerReferences": [owner_reference(d)],
            },
            "spec": spec,
            "status": {"replicas": 0},
        }
        du.rs_annotations(d, rs, revision, created=True)
        try:
            created = ctx.create(REPLICASETS, rs)
        except StoreError as err:
            if err.code != 409:
                raise
            # Same name, different template: a hash collision. Count it so the next hash differs.
            status["collisionCount"] = int(status.get("collisionCount") or 0) + 1
            return None
        if size > 0:
            ctx.record(
                d,
                "Normal",
                "ScalingReplicaSet",
                f"Scaled up replica set {rs['metadata']['name']} from 0 to {size}",
                COMPONENT,
            )
        if du.progress_deadline(d) is not None:
            msg = f'Created new replica set "{rs["metadata"]["name"]}"'
            set_condition(
                status, condition("Progressing", "True", "NewReplicaSetCreated", msg, now_iso())
            )
        return created

    # -- scaling --------------------------------------------------------------------------------
    def _scale(self, ctx: Context, d: Obj, rs: Obj, size: int) -> tuple[bool, Obj]:
        """Set a ReplicaSet's replicas and replica annotations; True when its size changed."""
        annotations = rs["metadata"].get("annotations") or {}
        desired = str(du.replicas(d))
        maximum = str(du.replicas(d) + du.max_surge(d))
        resize = du.replicas(rs) != size
        if not resize and (
            annotations.get(du.DESIRED_REPLICAS) == desired
            and annotations.get(du.MAX_REPLICAS) == maximum
        ):
            return False, rs
        fresh = edit(rs, "spec")
        fresh["spec"]["replicas"] = size
        fresh["metadata"]["annotations"] = {
            **annotations,
            du.DESIRED_REPLICAS: desired,
            du.MAX_REPLICAS: maximum,
        }
        written = ctx.update_spec(REPLICASETS, fresh) if resize else ctx.update(REPLICASETS, fresh)
        if resize:
            before = du.replicas(rs)
            verb = "up" if size > before else "down"
            msg = f"Scaled {verb} replica set {rs['metadata']['name']} from {before} to {size}"
            ctx.record(d, "Normal", "ScalingReplicaSet", msg, COMPONENT)
        return resize, written

    def _scale_new(self, ctx: Context, d: Obj, rss: list[Obj], new: Obj) -> bool:
        desired = du.replicas(d)
        if du.replicas(new) == desired:
            return False
        target = desired if du.replicas(new) > desired else du.new_rs_replicas(d, rss, new)
        return self._scale(ctx, d, new, target)[0]

    def _scale_old(self, ctx: Context, d: Obj, old: list[Obj], new: Obj) -> bool:
        """Scale old ReplicaSets down as far as maxUnavailable allows (reconcileOldReplicaSets).

        Counts are capped by spec.replicas: a ReplicaSet just scaled down has not yet deleted
        its pods, and counting them would let two steps remove more than maxUnavailable.
        """
        if sum(_pods(rs) for rs in old) == 0:
            return False
        all_pods = sum(_pods(rs) for rs in [*old, new])
        min_available = du.replicas(d) - du.max_unavailable(d)
        new_unavailable = du.replicas(new) - du.status_int(new, "availableReplicas")
        budget = all_pods - min_available - new_unavailable
        if budget <= 0:
            return False
        scaled = 0
        # First drop old pods that are not available anyway (cleanupUnhealthyReplicas).
        current: list[Obj] = []
        for rs in du.by_creation(old):
            step = min(budget - scaled, du.replicas(rs) - _available(rs))
            if step > 0:
                rs = self._scale(ctx, d, rs, du.replicas(rs) - step)[1]
                scaled += step
            current.append(rs)
        # Then scale down available old pods while enough pods stay available.
        allowed = sum(_available(rs) for rs in [*current, new]) - min_available
        for rs in current:
            if allowed <= 0:
                break
            step = min(du.replicas(rs), allowed)
            if step > 0:
                self._scale(ctx, d, rs, du.replicas(rs) - step)
                allowed -= step
                scaled += step
        return scaled > 0

    # -- strategies ---------------------------------------------------------------------------
    def _rolling(self, ctx: Context, d: Obj, rss: list[Obj], status: Obj) -> None:
        new = self._new_rs(ctx, d, rss, status, create=True)
        _, old = self._split(d, rss)
        if new is None:  # collision: status carries the new collisionCount, retry after it
            self._write(ctx, d, rss, None, status, rollout=True)
            return
        all_rss = [*old, new]
        if not self._scale_new(ctx, d, all_rss, new):
            new = self._refresh(ctx, new)
            self._scale_old(ctx, d, old, new)
        self._finish(ctx, d, new, status)

    def _recreate(self, ctx: Context, d: Obj, rss: list[Obj], status: Obj) -> None:
        new = self._new_rs(ctx, d, rss, status, create=False)
        _, old = self._split(d, rss)
        active = [rs for rs in old if du.replicas(rs) > 0]
        for rs in active:
            self._scale(ctx, d, rs, 0)
        old_pods = [p for rs in old for p in ctx.cache.children(PODS, rs["metadata"]["uid"])]
        if active or old_pods:
            self._finish(ctx, d, new, status)
            return
        if new is None:
            new = self._new_rs(ctx, d, rss, status, create=True)
        if new is not None:
            self._scale_new(ctx, d, [new], new)
        self._finish(ctx, d, new, status)

    def _sync_paused(self, ctx: Context, d: Obj, rss: list[Obj], status: Obj) -> None:
        """A paused Deployment only follows spec.replicas; it never starts a new rollout."""
        new = self._new_rs(ctx, d, rss, status, create=False)
        _, old = self._split(d, rss)
        sizes = du.proportional_sizes(d, new, old)
        for rs in [*([new] if new is not None else []), *old]:
            size = sizes.get(rs["metadata"]["name"])
            if size is not None:
                self._scale(ctx, d, rs, size)
        if du.progress_deadline(d) is not None:
            cond = condition(
                "Progressing", "Unknown", "DeploymentPaused", "Deployment is paused", now_iso()
            )
            set_condition(status, cond)
        self._finish(ctx, d, new, status, rollout=False)

    # -- status -----------------------------------------------------------------------------------
    def _refresh(self, ctx: Context, rs: Obj) -> Obj:
        meta = rs["metadata"]
        return ctx.cache.get(REPLICASETS, meta.get("namespace", ""), meta["name"]) or rs

    def _finish(
        self, ctx: Context, d: Obj, new: Obj | None, status: Obj, *, rollout: bool = True
    ) -> None:
        rss = ctx.cache.children(REPLICASETS, d["metadata"]["uid"])
        new = self._refresh(ctx, new) if new is not None else None
        self._write(ctx, d, rss, new, status, rollout=rollout)

    def _write(
        self, ctx: Context, d: Obj, rss: list[Obj], new: Obj | None, working: Obj, *, rollout: bool
    ) -> None:
        now_text, now = now_iso(), ctx.now()
        status = du.calculate_status({**d, "status": working}, rss, new, now_text)
        if "collisionCount" in working:
            status["collisionCount"] = working["collisionCount"]
        if rollout:
            moved = self._progress(d, status, new, now_text, now)
            self._note_progress(d, status, moved, now)
        if du.is_complete(d, status) and rollout:
            new_uid = new["metadata"]["uid"] if new is not None else ""
            self._cleanup(ctx, d, [rs for rs in rss if rs["metadata"]["uid"] != new_uid])
        status["conditions"] = sorted(
            status.get("conditions") or [], key=lambda c: CONDITION_ORDER.get(c["type"], 9)
        )
        fresh = edit(d)
        fresh["status"] = status
        if new is not None:
            annotations = fresh["metadata"].get("annotations") or {}
            revision = str(du.revision_of(new))
            fresh["metadata"]["annotations"] = {**annotations, du.REVISION: revision}
        if fresh != d:
            ctx.update(DEPLOYMENTS, fresh)
        self._arm_deadline(ctx, d, status, now)

    def _progress(self, d: Obj, status: Obj, new: Obj | None, now_text: str, now: float) -> bool:
        """Update the Progressing condition (syncRolloutStatus); True when progress was seen."""
        if du.progress_deadline(d) is None:
            return False
        rs_name = new["metadata"]["name"] if new is not None else ""
        current = get_condition(status, "Progressing")
        if du.is_complete(d, status):
            if current is None or current.get("reason") != "NewReplicaSetAvailable":
                msg = f'ReplicaSet "{rs_name}" has successfully progressed.'
                cond = condition("Progressing", "True", "NewReplicaSetAvailable", msg, now_text)
                set_condition(status, cond, refresh=True)
                return True
        elif du.is_progressing(d, status):
            msg = f'ReplicaSet "{rs_name}" is progressing.'
            cond = condition("Progressing", "True", "ReplicaSetUpdated", msg, now_text)
            set_condition(status, cond, refresh=True)
            return True
        elif current is not None and current.get("reason") == "DeploymentPaused":
            msg = "Deployment is resumed"
            cond = condition("Progressing", "Unknown", "DeploymentResumed", msg, now_text)
            set_condition(status, cond)
            return True
        elif du.deadline_passed(d, status, now, self._since(d, current)):
            msg = f'ReplicaSet "{rs_name}" has timed out progressing.'
            cond = condition("Progressing", "False", "ProgressDeadlineExceeded", msg, now_text)
            set_condition(status, cond)
        return False

    def _since(self, d: Obj, cond: Obj | None) -> float | None:
        """When the Progressing condition last moved, as exactly as this process knows it."""
        if cond is None:
            return None
        text = cond.get("lastUpdateTime")
        meta = d["metadata"]
        known = self._progress_at.get((meta.get("namespace", ""), meta["name"]))
        if known is not None and known[:2] == (meta["uid"], text):
            return known[2]
        return parse_time(text)

    def _note_progress(self, d: Obj, status: Obj, moved: bool, now: float) -> None:
        before = get_condition(d.get("status") or {}, "Progressing")
        after = get_condition(status, "Progressing")
        if after is not None and (moved or before != after):
            meta = d["metadata"]
            key = (meta.get("namespace", ""), meta["name"])
            self._progress_at[key] = (meta["uid"], after.get("lastUpdateTime", ""), now)

    def _arm_deadline(self, ctx: Context, d: Obj, status: Obj, now: float) -> None:
        """Wake up when the progress deadline would pass, if the rollout is still going."""
        deadline = du.progress_deadline(d)
        cond = get_condition(status, "Progressing")
        if deadline is None or cond is None or du.is_complete(d, status):
            return
        if cond.get("reason") in ("ProgressDeadlineExceeded", "DeploymentPaused"):
            return
        since = self._since(d, cond)
        if since is not None:
            meta = d["metadata"]
            due = since + deadline + 0.05 - now
            ctx.schedule(("deployment", meta.get("namespace", ""), meta["name"]), max(due, 0.0))

    def _cleanup(self, ctx: Context, d: Obj, old: list[Obj]) -> None:
        """Delete the oldest idle ReplicaSets beyond spec.revisionHistoryLimit."""
        limit = d["spec"].get("revisionHistoryLimit", 10)
        if limit is None:
            return
        idle = [rs for rs in old if du.replicas(rs) == 0 and du.status_int(rs, "replicas") == 0]
        surplus = len(idle) - int(limit)
        for rs in sorted(idle, key=du.revision_of)[: max(surplus, 0)]:
            ctx.delete(REPLICASETS, rs["metadata"].get("namespace", ""), rs["metadata"]["name"])


def _pods(rs: Obj) -> int:
    """Pods a ReplicaSet has or will have soon: status.replicas capped by spec.replicas."""
    return min(du.status_int(rs, "replicas"), du.replicas(rs))


def _available(rs: Obj) -> int:
    """Available pods that will survive the ReplicaSet's current spec."""
    return min(du.status_int(rs, "availableReplicas"), du.replicas(rs))
