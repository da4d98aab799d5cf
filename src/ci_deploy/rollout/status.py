"""What ``status`` shows: the recorded state plus a glance at the live Deployment."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ci_deploy.kube.revisions import pod_template, template_image
from ci_deploy.kube.state import StateRecord, StateStore
from ci_deploy.rollout.options import DeployOptions, cluster_session, load_environment


@dataclass(frozen=True)
class Status:
    """The record (None: nothing recorded) and the live Deployment's image and readiness."""

    app: str
    environment: str
    namespace: str
    record: StateRecord | None
    live_image: str | None
    ready: str | None  # "2/2"

    def as_dict(self) -> dict[str, Any]:
        """JSON for machines: the record (without the stored template) and the live view."""
        return {
            "app": self.app,
            "environment": self.environment,
            "namespace": self.namespace,
            "state": self.record.to_dict(with_template=False) if self.record else None,
            "live": {"image": self.live_image, "ready": self.ready},
        }


def read_status(opts: DeployOptions) -> Status:
    """Read the record of ``opts.environment`` from its cluster."""
    cfg, env = load_environment(opts)
    with cluster_session(opts, env.cluster) as client:
        record, deployment = StateStore(client, env.namespace, cfg.app).read()
    image = ready = None
    if deployment is not None:
        image = template_image(pod_template(deployment))
        status = deployment.get("status") or {}
        ready = f"{status.get('readyReplicas') or 0}/{deployment['spec'].get('replicas', 1)}"
    return Status(cfg.app, env.name, env.namespace, record, image, ready)


def status_table(status: Status) -> str:
    """A two-column table for people."""
    rows: list[tuple[str, str]] = [
        ("app", status.app),
        ("environment", f"{status.environment} (namespace {status.namespace})"),
    ]
    r = status.record
    if r is None:
        rows.append(("phase", "no rollout recorded"))
    else:
        rows += [
            ("phase", r.phase),
            ("strategy", r.strategy),
            ("revision", r.revision),
            ("previous revision", r.previous_revision or "-"),
            ("step", r.step or "-"),
            ("message", r.message or "-"),
        ]
        if r.canary_weight is not None:
            rows.append(("canary weight", f"{r.canary_weight}%"))
        if r.active_color:
            rows.append(("active color", r.active_color))
        if r.deployment_revision:
            rows.append(("deployment revision", r.deployment_revision))
        if r.run_url:
            rows.append(("run", r.run_url))
        rows += [("started", r.started_at), ("updated", r.updated_at)]
        if r.finished_at:
            rows.append(("finished", r.finished_at))
    rows.append(("live image", status.live_image or "-"))
    rows.append(("ready", status.ready or "-"))
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k.ljust(width)}  {v}" for k, v in rows)
