"""A simple HorizontalPodAutoscaler controller: keep the target's replicas within [min, max].

The sandbox has no metrics, so it never scales on load; it clamps the target into range and
reports currentReplicas/desiredReplicas with the conditions ``kubectl describe hpa`` shows.
"""

from __future__ import annotations

from kube_sandbox.controllers.context import DEPLOYMENTS, HPAS, REPLICASETS, Context, edit
from kube_sandbox.storage.store import Obj, now_iso

COMPONENT = "horizontal-pod-autoscaler"
TARGETS = {"Deployment": DEPLOYMENTS, "ReplicaSet": REPLICASETS}
NO_METRICS = "the sandbox has no metrics: replicas are only kept within [minReplicas, maxReplicas]"


def _condition(kind: str, status: str, reason: str, message: str, old: Obj, now: str) -> Obj:
    previous = next((c for c in old.get("conditions") or [] if c.get("type") == kind), None)
    same = previous is not None and previous.get("status") == status
    since = previous.get("lastTransitionTime", now) if previous and same else now
    return {
        "type": kind,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": since,
    }


def _limit_condition(desired: int, wanted: int, low: int, old: Obj, now: str) -> Obj:
    if desired == wanted:
        msg = "the desired count is within the acceptable range"
        return _condition("ScalingLimited", "False", "DesiredWithinRange", msg, old, now)
    reason = "TooFewReplicas" if desired == low else "TooManyReplicas"
    msg = "the desired replica count is out of range; clamped to the HPA's bounds"
    return _condition("ScalingLimited", "True", reason, msg, old, now)


class HPAController:
    """Clamps scale targets into the HPA's range and writes HPA status."""

    def reconcile(self, ctx: Context, namespace: str, name: str) -> None:
        """One pass over one HPA."""
        hpa = ctx.cache.get(HPAS, namespace, name)
        if hpa is None:
            return
        spec = hpa.get("spec") or {}
        ref = spec.get("scaleTargetRef") or {}
        resource = TARGETS.get(ref.get("kind", ""))
        target = ctx.cache.get(resource, namespace, ref.get("name", "")) if resource else None
        old: Obj = hpa.get("status") or {}
        now = now_iso()
        status: Obj = {"currentReplicas": 0, "desiredReplicas": 0}
        if target is None or resource is None:
            msg = f"unable to get the target's scale: {ref.get('kind')}/{ref.get('name')} not found"
            status["conditions"] = [
                _condition("AbleToScale", "False", "FailedGetScale", msg, old, now)
            ]
        else:
            status |= self._clamp(ctx, hpa, resource, target, old, now)
        if hpa["metadata"].get("generation") is not None:
            status["observedGeneration"] = int(hpa["metadata"]["generation"])
        if status != old:
            fresh = edit(hpa)
            fresh["status"] = status
            ctx.update(HPAS, fresh)

    def _clamp(self, ctx: Context, hpa: Obj, resource: str, target: Obj, old: Obj, now: str) -> Obj:
        spec = hpa["spec"]
        current = int((target.get("spec") or {}).get("replicas", 1))
        low, high = int(spec.get("minReplicas") or 1), int(spec.get("maxReplicas") or 1)
        desired = min(max(current, low), high)
        status: Obj = {
            "currentReplicas": int((target.get("status") or {}).get("replicas") or 0),
            "desiredReplicas": desired,
        }
        if desired != current and current != 0:  # replicas 0 means the user disabled scaling
            fresh = edit(target, "spec")
            fresh["spec"]["replicas"] = desired
            ctx.update_spec(resource, fresh)
            status["lastScaleTime"] = now
            why = "below Spec.MinReplicas" if desired > current else "above Spec.MaxReplicas"
            msg = f"New size: {desired}; reason: Current number of replicas {why}"
            ctx.record(hpa, "Normal", "SuccessfulRescale", msg, COMPONENT)
        elif old.get("lastScaleTime"):
            status["lastScaleTime"] = old["lastScaleTime"]
        ok = "the HPA controller was able to get the target's current scale"
        status["conditions"] = [
            _condition("AbleToScale", "True", "SucceededGetScale", ok, old, now),
            _condition("ScalingActive", "False", "FailedGetResourceMetric", NO_METRICS, old, now),
            _limit_condition(desired, current, low, old, now),
        ]
        return status
