"""Traffic routers: how a canary gets its share of the requests.

One module per router behind the ``TrafficRouter`` protocol; adding one (Istio, SMI) means one
module and a line in ``router_for``. A router is told *what* share to send (``Split``, computed
by the pure ``split`` of the router) and moves the object a real controller reads: the canary's
replica count behind the one Service (``replicas``), the HTTPRoute's ``backendRefs`` weights
(``gateway-api``), or a canary Ingress's ``canary-weight`` annotation (``nginx-ingress``).

Contract of every router (the canary strategy relies on it):

- ``split`` is pure and honest: ``actual`` is the share the canary really gets, which with a
  pod ratio is not always the share asked for;
- ``prepare`` makes what the router needs before the first weight (a canary Service, a canary
  Ingress at weight 0, the stable Service narrowed to stable pods); idempotent;
- ``set_weight`` moves traffic to ``split`` once the canary's pods are ready (the strategy scales
  the canary Deployment to ``split.canary_pods`` and waits before calling it); idempotent. A
  router whose share follows the pods (``weighs_requests`` False) cannot send 0 % while canary
  pods run: the canary's removal ends its share, and only then is weight 0 recorded;
- ``reset`` sends all traffic to the stable pods and removes everything ``prepare`` made;
  idempotent, and safe to call when ``prepare`` never ran (abort, recovery after a killed job).

A baseline (``canary.baseline``: the stable version, freshly started, at the canary's size) gets
the canary's share, so metrics compare the two like for like: ``split(…, baseline=True)`` sizes
it (``Split.baseline_pods``, the canary's pod count) and ``set_weight`` sends it the same share
as the canary. Only below ``BASELINE_BELOW`` percent: from there on the canary and the baseline
would take all the traffic between them (or more), so the strategy removes the baseline at the
first stage that high. A router that cannot weigh a third backend says why in
``baseline_unsupported`` and the strategy refuses the configuration (exit 2).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Protocol

from ci_deploy.errors import UserInputError
from ci_deploy.rollout.labels import TRACK_LABEL

__all__ = [
    "BASELINE_BELOW",
    "ROUTER_FIELD_MANAGER",
    "TRACK_LABEL",
    "Split",
    "TrafficNames",
    "TrafficRouter",
    "baseline_runs_at",
]

if TYPE_CHECKING:
    from ci_deploy.rollout.session import RolloutContext

ROUTER_FIELD_MANAGER = "ci-deploy-router"  # what a router writes, apart from ci-deploy's apply
BASELINE_BELOW = 50.0  # a baseline runs at the stages whose canary weight is below this


def baseline_runs_at(weight: float) -> bool:
    """Whether a baseline can get the canary's share at ``weight`` percent and leave the stable
    set a share of its own (canary + baseline below 100 %)."""
    return 0 < weight < BASELINE_BELOW


@dataclass(frozen=True)
class TrafficNames:
    """The objects a router works on; recorded so ``promote`` / ``abort`` need no manifests."""

    app: str
    stable_deployment: str  # the app's Deployment (named after the app)
    canary_deployment: str  # "<app>-canary"
    stable_service: str  # the app's Service (selects the app's pods)
    canary_service: str  # "<app>-canary" (gateway-api, nginx-ingress)
    selector: tuple[tuple[str, str], ...]  # the stable Service's selector as rendered
    http_routes: tuple[str, ...] = ()  # HTTPRoutes with a backendRef to the stable Service
    ingresses: tuple[str, ...] = ()  # Ingresses with a backend of the stable Service
    baseline_deployment: str = ""  # "<app>-baseline"; empty: no baseline (canary.baseline off)
    baseline_service: str = ""  # "<service>-baseline" (gateway-api); empty: no baseline

    def to_dict(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["selector"] = dict(self.selector)
        return doc

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> TrafficNames:
        values = dict(doc)
        values["selector"] = tuple(sorted((values.get("selector") or {}).items()))
        values["http_routes"] = tuple(values.get("http_routes") or ())
        values["ingresses"] = tuple(values.get("ingresses") or ())
        return cls(**values)


@dataclass(frozen=True)
class Split:
    """How one weight is realised: pods on each side and the share the canary really gets.

    With a baseline (``baseline_pods`` > 0) the baseline gets the canary's share too, so the
    stable set keeps ``stable_share``: 100 % less both.
    """

    asked: float  # percent, as configured
    actual: float  # percent the canary receives (and the baseline, when there is one)
    canary_pods: int
    stable_pods: int
    note: str = ""  # why actual differs from asked, for the plan and the log
    baseline_pods: int = 0  # the baseline's size; 0: no baseline at this weight
    stable_actual: float | None = None  # the stable share where rounding makes the rest wrong

    @property
    def baseline_share(self) -> float:
        """Percent the baseline receives (the canary's share, or 0 without a baseline)."""
        return self.actual if self.baseline_pods else 0.0

    @property
    def stable_share(self) -> float:
        """Percent the stable pods receive."""
        if self.stable_actual is not None:
            return self.stable_actual
        return round(100.0 - self.actual - self.baseline_share, 4)

    def describe(self) -> str:
        if not self.baseline_pods:
            pods = _pods(self.canary_pods, "canary")
            text = f"{_pct(self.actual)} to the canary ({pods} next to {self.stable_pods} stable)"
        else:
            text = (
                f"{_pct(self.actual)} to the canary ({_pods(self.canary_pods, 'canary')}), "
                f"{_pct(self.baseline_share)} to the baseline "
                f"({_pods(self.baseline_pods, 'baseline')}), {_pct(self.stable_share)} to the "
                f"stable version ({_pods(self.stable_pods, 'stable')})"
            )
        return f"{text}; {self.note}" if self.note else text


def _pods(count: int, track: str) -> str:
    return f"{count} {track} pod{'s' if count != 1 else ''}"


class TrafficRouter(Protocol):
    """Moves a share of the traffic to the canary (see the module's contract)."""

    name: str
    baseline_unsupported: str  # why this router cannot run a baseline; empty: it can
    # True: set_weight moves the requests itself, so weight 0 holds once it returns; False:
    # the share follows the canary's pods (replicas), so it is 0 only once they are gone
    weighs_requests: bool

    def split(self, weight: float, stable_pods: int, baseline: bool = False) -> Split:
        """The pods and the real share for ``weight`` percent, with a baseline as large as the
        canary when ``baseline`` (pure)."""
        ...

    def describe(self, names: TrafficNames) -> str:
        """Where this router splits traffic, for the plan."""
        ...

    def prepare(self, ctx: RolloutContext, names: TrafficNames) -> None:
        """Make what the router needs before the first weight (idempotent)."""
        ...

    def set_weight(self, ctx: RolloutContext, names: TrafficNames, split: Split) -> None:
        """Send ``split.actual`` percent to the canary (its pods are ready)."""
        ...

    def reset(self, ctx: RolloutContext, names: TrafficNames) -> None:
        """All traffic to stable; remove what ``prepare`` made (idempotent)."""
        ...


# router name -> module under ci_deploy.rollout.traffic that defines ``ROUTER``
ROUTER_MODULES = {
    "replicas": "replicas",
    "gateway-api": "gateway_api",
    "nginx-ingress": "nginx_ingress",
}


def router_for(name: str) -> TrafficRouter:
    """The router called ``name`` (config: ``canary.traffic_router``); imported on demand."""
    import importlib

    module = ROUTER_MODULES.get(name)
    if module is None:
        known = ", ".join(ROUTER_MODULES)
        raise UserInputError(f"unknown traffic router {name!r}; known: {known}")
    router: TrafficRouter = importlib.import_module(f"{__name__}.{module}").ROUTER
    return router


def weighted_split(weight: float, stable_pods: int, baseline: bool = False) -> Split:
    """A router that weighs traffic itself: enough canary pods to carry ``weight`` percent.

    The canary gets exactly ``weight`` percent of the requests; its pods are sized to take that
    share of the stable set's load (at least one), so each canary pod works about as hard as a
    stable one. A baseline gets the same share and the same pods.
    """
    if baseline and not baseline_runs_at(weight):
        raise ValueError(f"a baseline cannot take the canary's share at {weight}%")
    pods = max(1, math.ceil(stable_pods * weight / 100 - 1e-9))
    return Split(weight, weight, pods, stable_pods, baseline_pods=pods if baseline else 0)


MAX_WEIGHT_TOTAL = 1_000_000  # Gateway API's largest backendRef weight


def integer_weights(percent: float) -> tuple[int, int]:
    """``(canary, total)``: ``percent`` as a whole share of the smallest total 100, 1000, ….

    Gateway API weights and ingress-nginx's ``canary-weight`` are integers: 5 % is 5 of 100
    (the stable side keeps 95), 16.7 % is 167 of 1000 (833), so the ratio is the share the
    ``Split`` promises, exactly, and a whole percent reads as a percent. A share finer than
    four decimals is rounded at the largest total Gateway API allows (1,000,000).
    """
    share = min(max(percent, 0.0), 100.0)
    total = 100
    while total < MAX_WEIGHT_TOTAL and abs(share * total / 100 - round(share * total / 100)) > 1e-6:
        total *= 10
    return round(share * total / 100), total


def _pct(value: float) -> str:
    text = f"{value:.1f}".rstrip("0").rstrip(".")
    return f"{text}%"
