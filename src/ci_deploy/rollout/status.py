"""What ``status`` shows: what is live, what was last attempted, and the revisions to roll back to.

The state record keeps its own field semantics (``revision`` = the image the last rollout put in
place or tried to, ``previousRevision`` = the stable image before it); this module interprets them
for people. What is live comes from the Deployment itself, never from the record: its
``deployment.kubernetes.io/revision``, its ReplicaSets (numbered as ``kubectl rollout history``
numbers them) and its pods. docs/status.md documents the output, docs/status.schema.json the JSON.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from ci_deploy.kube.client import DEPLOYMENT, POD, REPLICASET, KubeClient, Obj
from ci_deploy.kube.health import REVISION_ANNOTATION, WaitingTracker, assess
from ci_deploy.kube.revisions import pod_template, replicaset_revision, template_image
from ci_deploy.kube.state import StateRecord, StateStore
from ci_deploy.kube.watch import selector_text
from ci_deploy.rollout.labels import COLOR_LABEL
from ci_deploy.rollout.locking import namespace_exists
from ci_deploy.rollout.options import DeployOptions, cluster_session, load_environment
from ci_deploy.rollout.recorded import aborting
from ci_deploy.text import one_line

if TYPE_CHECKING:
    from ci_deploy.config import Config

# The ``step`` a rollback on demand records (rollback.py), so that status can tell it from a
# deploy's automatic rollback: both end in phase RolledBack with previousRevision live again.
ON_DEMAND_STEP = "rollback-on-demand"
# What records written before ON_DEMAND_STEP existed say in their message.
_LEGACY_ON_DEMAND = ("rollback on demand to ", "rolled back on demand to ", "rollback to ")


@dataclass(frozen=True)
class RevisionRow:
    """One revision ``rollback --to-revision`` takes: a ReplicaSet of the Deployment."""

    number: int
    image: str
    replicaset: str
    created: str | None  # the ReplicaSet's creationTimestamp: when this revision was first made
    live: bool  # the Deployment's current revision
    template: Obj = field(compare=False, repr=False)

    def label(self) -> str:
        """``3 (repo:1.0.0, live)``: how error messages list a revision."""
        return f"{self.number} ({self.image}{', live' if self.live else ''})"

    def as_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "image": self.image,
            "replicaSet": self.replicaset,
            "created": self.created,
            "live": self.live,
        }


@dataclass(frozen=True)
class Live:
    """The live Deployment: its image and revision, and whether it is healthy."""

    image: str
    revision: int | None
    replicaset: str | None
    ready: int
    replicas: int
    healthy: bool
    health: str  # a sentence: "healthy: 2/2 ready", or what is wrong
    since: str | None  # when the live revision finished rolling out (Progressing condition)


@dataclass(frozen=True)
class LastAttempt:
    """The last rollout the record describes, as a person would tell it."""

    kind: Literal["deploy", "rollback"]
    source: str | None  # the image it started from (None: first deploy)
    target: str  # the image it put in place or tried to
    record: StateRecord

    def summary(self) -> str:
        """``deploy of X (replacing Y)`` or ``rollback on demand from X to Y``."""
        if self.kind == "rollback":
            return f"rollback on demand from {self.source or '?'} to {self.target}"
        replacing = f"replacing {self.source}" if self.source else "first deploy"
        return f"deploy of {self.target} ({replacing})"

    def outcome(self) -> str:
        """``Succeeded at T``, ``RolledBack at T: rolled back automatically to Y``, ..."""
        r = self.record
        if r.finished_at is None:
            step = f" (step {r.step})" if r.step else ""
            return f"{r.phase} since {r.started_at}{step}"
        text = f"{r.phase} at {r.finished_at}"
        if self.kind == "deploy" and r.phase == "RolledBack":
            text += f": rolled back automatically to {self.source}"
        return text

    def as_dict(self) -> dict[str, Any]:
        r = self.record
        return {
            "kind": self.kind,
            "from": self.source,
            "to": self.target,
            "phase": r.phase,
            "summary": self.summary(),
            "outcome": self.outcome(),
            "message": r.message,
            "step": r.step,
            "strategy": r.strategy,
            "startedAt": r.started_at,
            "finishedAt": r.finished_at,
            "runUrl": r.run_url,
        }


def last_attempt(record: StateRecord | None) -> LastAttempt | None:
    """What the record says was last attempted (pure)."""
    if record is None:
        return None
    on_demand = record.step.split(" ")[0] == ON_DEMAND_STEP or (
        record.step == "rollback" and record.message.startswith(_LEGACY_ON_DEMAND)
    )
    if on_demand:  # rollback.py records revision = rolled back from, previous = target
        return LastAttempt("rollback", record.revision, record.previous_revision or "?", record)
    return LastAttempt("deploy", record.previous_revision, record.revision, record)


@dataclass(frozen=True)
class Status:
    """Everything ``status`` prints, read at one moment."""

    app: str
    environment: str
    namespace: str
    namespace_exists: bool
    live: Live | None  # None: there is no Deployment
    record: StateRecord | None
    revisions: list[RevisionRow]

    def as_dict(self) -> dict[str, Any]:
        """JSON for machines (docs/status.schema.json); ``state`` is the record as stored."""
        attempt = last_attempt(self.record)
        return {
            "app": self.app,
            "environment": self.environment,
            "namespace": self.namespace,
            "live": _live_dict(self.live, self.nothing_live()),
            "lastAttempt": attempt.as_dict() if attempt else None,
            "revisions": [r.as_dict() for r in self.revisions],
            "state": self.record.to_dict(with_template=False) if self.record else None,
        }

    def nothing_live(self) -> str:
        """Why nothing is live: no Deployment, or no namespace either."""
        where = f"no Deployment {self.app} in namespace {self.namespace}"
        return where if self.namespace_exists else f"{where} (the namespace does not exist)"


def _live_dict(live: Live | None, nothing: str) -> dict[str, Any]:
    if live is None:
        return {
            "image": None,
            "revision": None,
            "replicaSet": None,
            "ready": None,
            "readyReplicas": 0,
            "replicas": 0,
            "healthy": False,
            "health": nothing,
            "since": None,
        }
    return {
        "image": live.image,
        "revision": live.revision,
        "replicaSet": live.replicaset,
        "ready": f"{live.ready}/{live.replicas}",
        "readyReplicas": live.ready,
        "replicas": live.replicas,
        "healthy": live.healthy,
        "health": live.health,
        "since": live.since,
    }


def app_container(record: StateRecord | None, cfg: Config, template: Obj) -> str | None:
    """The app's container: the record's, else ``image.container``, else the first one."""
    if record is not None and record.container:
        return record.container
    if cfg.image.container:
        return cfg.image.container
    containers = (template.get("spec") or {}).get("containers") or []
    return str(containers[0].get("name")) if containers else None


def live_revision(deployment: Obj) -> int | None:
    """The Deployment's ``deployment.kubernetes.io/revision`` (None: not yet set)."""
    value = (deployment["metadata"].get("annotations") or {}).get(REVISION_ANNOTATION)
    return int(value) if value is not None and str(value).isdigit() else None


def revision_rows(
    deployment: Obj, replicasets: list[Obj], container: str | None
) -> list[RevisionRow]:
    """The Deployment's ReplicaSets as revisions, oldest first, the live one marked (pure)."""
    live = live_revision(deployment)
    rows: list[RevisionRow] = []
    for rs in replicasets:
        revision = replicaset_revision(deployment, rs)
        if revision is None:
            continue
        image = template_image(revision.template, container) or revision.image
        created = rs["metadata"].get("creationTimestamp")
        rows.append(
            RevisionRow(
                revision.number,
                image,
                revision.replicaset,
                created,
                revision.number == live,
                revision.template,
            )
        )
    return sorted(rows, key=lambda r: r.number)


def list_replicasets(client: KubeClient, deployment: Obj) -> list[Obj]:
    """The ReplicaSets matching the Deployment's selector (ownership is checked by the callers)."""
    namespace = deployment["metadata"]["namespace"]
    doc = client.get(REPLICASET.path(namespace), [("labelSelector", selector_text(deployment))])
    return list(doc.get("items") or [])


def read_revisions(client: KubeClient, deployment: Obj, container: str | None) -> list[RevisionRow]:
    """The revisions of the live Deployment (one read of its ReplicaSets)."""
    return revision_rows(deployment, list_replicasets(client, deployment), container)


def live_view(
    deployment: Obj, replicasets: list[Obj], pods: list[Obj], image: str, rows: list[RevisionRow]
) -> Live:
    """The live Deployment as people ask about it (pure): image, revision, health, since."""
    # A zero grace reports a crash-looping or unpullable pod at once: status is a snapshot.
    verdict = assess(deployment, replicasets, pods, WaitingTracker(grace=0.0), time.monotonic())
    replicas = int((deployment.get("spec") or {}).get("replicas", 1))
    ready = int((deployment.get("status") or {}).get("readyReplicas") or 0)
    counts = f"{ready}/{replicas} ready"
    if verdict.done:
        health = f"healthy: {counts}"
    elif verdict.failure:
        health = f"not healthy: {counts}; {verdict.failure}"
    else:
        health = f"not healthy yet: {counts}; {verdict.message}"
    names = [r.replicaset for r in rows if r.live]
    return Live(
        image=image,
        revision=live_revision(deployment),
        replicaset=names[0] if names else None,
        ready=ready,
        replicas=replicas,
        healthy=verdict.done,
        health=health,
        since=_since(deployment),
    )


def _since(deployment: Obj) -> str | None:
    """When the current revision finished rolling out: the controller's completion condition."""
    for cond in (deployment.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Progressing" and cond.get("reason") == "NewReplicaSetAvailable":
            return str(cond.get("lastUpdateTime") or cond.get("lastTransitionTime") or "") or None
    return None


def read_status(opts: DeployOptions) -> Status:
    """Read the record, the live Deployment, its ReplicaSets and pods (reads only)."""
    cfg, env = load_environment(opts)
    with cluster_session(opts, env.cluster) as client:
        record, deployment = StateStore(client, env.namespace, cfg.primary).read()
        if deployment is None:
            exists = namespace_exists(client, env.namespace)
            return Status(cfg.app, env.name, env.namespace, exists, None, record, [])
        pods_of = selector_text(deployment)
        if record is not None and record.strategy == "blue_green" and record.active_color:
            # The colour that serves is what is live; the app-named Deployment may be at zero.
            from ci_deploy.rollout.strategies.blue_green import deployment_of

            name = deployment_of(cfg.primary, record.active_color)
            deployment = client.get_or_none(DEPLOYMENT.path(env.namespace, name)) or deployment
            pods_of += f",{COLOR_LABEL}={record.active_color}"
        template = pod_template(deployment)
        container = app_container(record, cfg, template)
        replicasets = list_replicasets(client, deployment)
        selector = [("labelSelector", pods_of)]
        pods = list(client.get(POD.path(env.namespace), selector).get("items") or [])
    rows = revision_rows(deployment, replicasets, container)
    live = live_view(deployment, replicasets, pods, template_image(template, container), rows)
    return Status(cfg.app, env.name, env.namespace, True, live, record, rows)


def status_table(status: Status) -> str:
    """The text ``status`` prints for people (docs/status.md)."""
    rows: list[tuple[str, str]] = [
        ("app", status.app),
        ("environment", f"{status.environment} (namespace {status.namespace})"),
    ]
    live = status.live
    if live is None:
        rows.append(("live image", f"none: {status.nothing_live()}"))
    else:
        number = f" (revision {live.revision})" if live.revision is not None else ""
        since = f", since {live.since}" if live.since else ""
        rows += [("live image", f"{live.image}{number}"), ("health", f"{live.health}{since}")]
    rows += _attempt_rows(last_attempt(status.record))
    width = max(len(k) for k, _ in rows)
    lines = [f"{k.ljust(width)}  {v}" for k, v in rows]
    # Values come from the cluster and the record: each line is made one inert line.
    return "\n".join(one_line(line) for line in [*lines, "", *_revision_lines(status)])


def _attempt_rows(attempt: LastAttempt | None) -> list[tuple[str, str]]:
    if attempt is None:
        return [("last attempt", "none recorded")]
    r = attempt.record
    rows = [("last attempt", attempt.summary()), ("outcome", attempt.outcome())]
    if r.message:
        rows.append(("message", r.message))
    rows.append(("strategy", r.strategy))
    if r.canary_weight is not None:
        rows.append(("canary weight", f"{r.canary_weight:g}%"))
    if r.active_color:
        rows.append(("active color", r.active_color))
    if r.plan and r.phase == "Paused":
        rows.append(
            (
                "next",
                f"`ci-deploy promote --env {r.environment}` continues after the "
                f"gate; `ci-deploy abort --env {r.environment}` undoes the rollout",
            )
        )
    elif r.plan and r.phase == "Progressing" and aborting(r):
        rows.append(
            (
                "next",
                f"an abort is in flight (or was interrupted at step {r.step}): `ci-deploy abort"
                f" --env {r.environment}` finishes it; a deploy finishes it first",
            )
        )
    elif r.plan and r.phase == "Progressing":
        rows.append(
            (
                "next",
                f"a run is in flight (or was interrupted): deploying {r.revision} "
                f"again continues it; `ci-deploy abort --env {r.environment}` undoes it",
            )
        )
    if r.run_url:
        rows.append(("run", r.run_url))
    return rows


def _revision_lines(status: Status) -> list[str]:
    if not status.revisions:
        return ["revisions: none"]
    head = (
        f"revisions (roll back with: ci-deploy rollback --env {status.environment} "
        "--to-revision NUMBER or IMAGE):"
    )
    table = [("NUMBER", "IMAGE", "CREATED", "")] + [
        (str(r.number), r.image, r.created or "-", "live" if r.live else "")
        for r in status.revisions
    ]
    widths = [max(len(row[i]) for row in table) for i in range(3)]
    lines = [
        "  "
        + "  ".join([*(c.ljust(w) for c, w in zip(row, widths, strict=False)), row[3]]).rstrip()
        for row in table
    ]
    return [head, *lines]
