"""Controllers of the sandbox: Deployment, ReplicaSet, a simulated kubelet, Endpoints, HPA."""

from __future__ import annotations

from kube_sandbox.controllers.manager import ControllerManager

__all__ = ["ControllerManager"]
