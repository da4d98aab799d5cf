"""The ``gateway-api`` router: HTTPRoute ``backendRefs`` weights between two Services.

The gateway weighs requests itself, so the canary gets exactly the share asked for, whatever
the pod counts (``weighted_split``). ``prepare`` makes the canary Service and narrows the app's
Service to the stable pods (``services``); the rendered route is left as it is, which is the
same as weight 0. ``set_weight`` turns each backendRef to the app's Service into two, the
stable Service and the canary Service, with integer weights whose ratio is the ``Split``'s
exact share (``integer_weights``: 95/5, or 833/167 for 16.7 %). With a baseline the ref is
three: the baseline Service (``<service>-baseline``) gets the canary's weight and the stable
Service the rest (80/10/10). ``reset`` puts the route back as rendered: the stable ref alone,
without a weight (the API server defaults it to 1).

``spec.rules`` is an atomic list, so a write replaces all of it: each is a merge patch of the
whole list at the resourceVersion read, read again on a conflict, so a rule someone else
changed meanwhile is not lost. A rule that sends to other backends besides the app's Service
is refused: its weights are relative to theirs, and no split of the app's ref alone would give
the canary the share promised.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from ci_deploy.kube.client import Obj
from ci_deploy.rollout.session import StepFailed
from ci_deploy.rollout.traffic import Split, TrafficNames, integer_weights, weighted_split
from ci_deploy.rollout.traffic.services import (
    missing,
    object_path,
    patch_read_object,
    prepare_services,
    reset_services,
)

if TYPE_CHECKING:
    from ci_deploy.rollout.session import RolloutContext

ROUTE_API = "gateway.networking.k8s.io/v1"
Weights = tuple[int, int, int]  # (stable, canary, baseline) backendRef weights; baseline 0: no ref


def is_service_ref(ref: Obj, service: str, namespace: str) -> bool:
    """Whether a backendRef points at Service ``service`` of ``namespace`` (kind and group
    defaulted as the API does)."""
    return (
        ref.get("name") == service
        and ref.get("kind", "Service") == "Service"
        and ref.get("group", "") == ""
        and ref.get("namespace", namespace) == namespace
    )


def routed_rules(
    rules: list[Obj], names: TrafficNames, namespace: str, weights: Weights | None
) -> list[Obj]:
    """``rules`` with each ref to the stable Service split by ``weights`` (pure).

    ``weights`` None: the rendered form, the stable ref alone without a weight. Canary and
    baseline refs already present are made again, never duplicated; every other field is kept.
    """
    out = []
    ours = tuple(s for s in (names.canary_service, names.baseline_service) if s)
    for rule in rules:
        refs = rule.get("backendRefs")
        if not refs:
            out.append(copy.deepcopy(rule))
            continue
        has_stable = any(is_service_ref(r, names.stable_service, namespace) for r in refs)
        new_refs: list[Obj] = []
        for ref in refs:
            if any(is_service_ref(ref, s, namespace) for s in ours):
                if has_stable:
                    continue  # made again next to its stable ref
                ref = {**ref, "name": names.stable_service}  # the stable ref was removed by hand
                has_stable = True  # one stable ref in its place, not one per ref of ours
            new_refs.extend(_split_ref(ref, names, namespace, weights))
        out.append({**copy.deepcopy(rule), "backendRefs": new_refs})
    return out


def _split_ref(ref: Obj, names: TrafficNames, namespace: str, weights: Weights | None) -> list[Obj]:
    if not is_service_ref(ref, names.stable_service, namespace):
        return [copy.deepcopy(ref)]
    stable = {k: copy.deepcopy(v) for k, v in ref.items() if k != "weight"}
    if weights is None:
        return [stable]
    split = [{**stable, "weight": weights[0]}, _ref_to(stable, names.canary_service, weights[1])]
    if weights[2] and names.baseline_service:
        split.append(_ref_to(stable, names.baseline_service, weights[2]))
    return split


def _ref_to(stable: Obj, service: str, weight: int) -> Obj:
    return {**copy.deepcopy(stable), "name": service, "weight": weight}


class GatewayApiRouter:
    """Requests weighed by the gateway between the stable and the canary Service."""

    name = "gateway-api"
    baseline_unsupported = ""
    weighs_requests = True

    def split(self, weight: float, stable_pods: int, baseline: bool = False) -> Split:
        """Exactly ``weight`` percent (to the baseline too); canary pods sized for that share."""
        return weighted_split(weight, stable_pods, baseline)

    def describe(self, names: TrafficNames) -> str:
        routes = ", ".join(names.http_routes)
        kind = "HTTPRoute" if len(names.http_routes) == 1 else "HTTPRoutes"
        others = names.canary_service
        if names.baseline_service:
            others += f" and {names.baseline_service} (the baseline, the canary's weight)"
        return (
            f"gateway-api: {kind} {routes} weights between Service {names.stable_service} "
            f"(stable pods) and {others}"
        )

    def prepare(self, ctx: RolloutContext, names: TrafficNames) -> None:
        """Canary Service, stable Service narrowed; the routes are checked, not changed."""
        for route in names.http_routes:
            self._check(ctx, names, route, self._require_route(ctx, route))
        prepare_services(ctx, names)

    def set_weight(self, ctx: RolloutContext, names: TrafficNames, split: Split) -> None:
        canary, total = integer_weights(split.actual)
        baseline = canary if split.baseline_pods else 0
        weights = (total - canary - baseline, canary, baseline)
        for route in names.http_routes:
            if self._rewrite(ctx, names, route, weights) is None:
                raise self._missing(ctx, route)
            third = f", Service {names.baseline_service} weight {baseline}" if baseline else ""
            ctx.progress.line(
                f"traffic: HTTPRoute {route}: Service {names.stable_service} weight "
                f"{weights[0]}, Service {names.canary_service} weight {weights[1]}{third} "
                f"({split.describe()})"
            )

    def reset(self, ctx: RolloutContext, names: TrafficNames) -> None:
        """Routes as rendered first (traffic to stable), then the Services (``services``)."""
        for route in names.http_routes:
            if self._rewrite(ctx, names, route, None) is not None:
                stable = names.stable_service
                ctx.progress.line(f"traffic: HTTPRoute {route}: Service {stable} alone")
        reset_services(ctx, names)

    def _path(self, ctx: RolloutContext, route: str) -> str:
        return object_path(ctx, ROUTE_API, "HTTPRoute", route)

    def _require_route(self, ctx: RolloutContext, route: str) -> Obj:
        found = ctx.client.get_or_none(self._path(ctx, route))
        if found is None:
            raise self._missing(ctx, route)
        return found

    def _missing(self, ctx: RolloutContext, route: str) -> StepFailed:
        return missing(
            ctx,
            f"HTTPRoute {route} (traffic router gateway-api)",
            "the canary's weights are set on it; apply the app's manifests with "
            "manifests.http_route configured, or use canary.traffic_router: replicas",
        )

    def _rewrite(
        self, ctx: RolloutContext, names: TrafficNames, route: str, weights: Weights | None
    ) -> Obj | None:
        def edit(current: Obj) -> Obj | None:
            rules = (current.get("spec") or {}).get("rules") or []
            if weights is not None:
                self._check(ctx, names, route, current)
            new = routed_rules(rules, names, ctx.namespace, weights)
            return None if new == rules else {"spec": {"rules": new}}

        return patch_read_object(ctx.client, self._path(ctx, route), edit)

    def _check(self, ctx: RolloutContext, names: TrafficNames, route: str, obj: Obj) -> None:
        """StepFailed unless the route sends to the stable Service, and to nothing else
        in the rules that do."""
        rules: list[dict[str, Any]] = (obj.get("spec") or {}).get("rules") or []
        ours = tuple(
            s for s in (names.stable_service, names.canary_service, names.baseline_service) if s
        )
        where = f"HTTPRoute {route} in namespace {ctx.namespace}"
        found = False
        for number, rule in enumerate(rules, start=1):
            refs = rule.get("backendRefs") or []
            mine = [r for r in refs if any(is_service_ref(r, s, ctx.namespace) for s in ours)]
            others = sorted(str(r.get("name")) for r in refs if r not in mine)
            if mine and others:
                raise StepFailed(
                    "failed",
                    f"{where}, rule {number}, sends to {', '.join(others)} besides Service "
                    f"{names.stable_service}: the canary's share would be relative to theirs; "
                    "give the app's Service a rule of its own",
                )
            found = found or bool(mine)
        if not found:
            raise StepFailed(
                "failed",
                f"{where} has no backendRef to Service {names.stable_service}: the canary "
                "cannot take a share of it; point a rule at the app's Service or remove the "
                "route from the canary",
            )


ROUTER = GatewayApiRouter()
