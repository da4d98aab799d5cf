"""The rollout state record: JSON under the annotation ``ci-deploy.dev/state`` (DESIGN.md contract).

It sits in the metadata of the application's Deployment (never in the pod template, which would
start a rollout). It is written with a JSON merge patch under its own field manager,
``ci-deploy-state``, so that a later server-side apply by ``ci-deploy`` (which does not list the
annotation) leaves it alone. Writes are optimistic: the patch carries the resourceVersion that was
read; on a conflict the record is re-read and the write is repeated only if nobody else changed
the record in between.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime, timezone
from typing import Any, Literal

from ci_deploy.kube.client import DEPLOYMENT, JSON_PATCH, MERGE_PATCH, KubeClient, Obj
from ci_deploy.kube.errors import ApiError

STATE_ANNOTATION = "ci-deploy.dev/state"
STATE_API_VERSION = "ci-deploy.dev/v1"
STATE_FIELD_MANAGER = "ci-deploy-state"

Phase = Literal["Progressing", "Paused", "Succeeded", "Aborted", "RolledBack", "Failed"]
PHASES: tuple[str, ...] = ("Progressing", "Paused", "Succeeded", "Aborted", "RolledBack", "Failed")


def utc_now() -> str:
    """Now, as RFC 3339 UTC with seconds."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class StateError(Exception):
    """The record cannot be read (bad JSON, unknown schema) or written."""


class StateConflict(StateError):
    """Another process changed the record (or deleted its Deployment) since we read it."""


@dataclass
class StateRecord:
    """One app's rollout in one environment, as recorded in the cluster."""

    app: str
    environment: str
    strategy: str
    phase: Phase
    revision: str  # the image being (or last) deployed, tag or digest
    previous_revision: str | None = None  # image of the previous stable template
    step: str = ""  # current step, e.g. "2/3 wait-rollout"
    canary_weight: float | None = None  # percent of traffic the canary gets now
    active_color: str | None = None
    migration_phase: str | None = None
    analysis: str | None = None  # one-line verdict summary
    message: str = ""  # why the rollout is in this phase (for people)
    deployment_revision: str | None = None  # deployment.kubernetes.io/revision of `revision`
    manifests_digest: str | None = None  # digest of the rendered objects of `revision`
    container: str | None = None  # the container of the Deployment that runs `revision`
    status_ids: dict[str, str] = field(default_factory=dict)  # e.g. {"github-deployment": "42"}
    run_url: str | None = None  # the pipeline or job that wrote it
    started_at: str = field(default_factory=utc_now)
    updated_at: str = field(default_factory=utc_now)
    finished_at: str | None = None
    # The exact pod template that was stable before this rollout: what a rollback restores.
    # Kept in the cluster only; left out of job outputs (size, and it is not pipeline data).
    previous_template: Obj | None = None
    # A progressive rollout's parameters (stages, router, object names, the manifest to
    # promote): what ``promote`` and ``abort`` continue from without the manifests. Kept in the
    # cluster only, like ``previous_template``.
    plan: Obj | None = None
    # The last analysis verdicts (metric, rendered query, value, rule, result, samples, why),
    # capped in size; in the cluster only: outputs carry the one-line ``analysis``.
    verdicts: list[Obj] | None = None
    # The judged metrics over the rollout for the job summary's chart: points of {stage,
    # track, at (s into the stage), weight, values}, the last SERIES_POINTS only; cluster only.
    series: list[Obj] | None = None

    # -- JSON -----------------------------------------------------------------------------
    def to_dict(self, *, with_template: bool = True) -> dict[str, Any]:
        """The camelCase JSON document, ``apiVersion`` first."""
        doc: dict[str, Any] = {"apiVersion": STATE_API_VERSION}
        for key, value in asdict(self).items():
            if key in ("previous_template", "plan", "verdicts", "series") and not with_template:
                continue
            doc[_camel(key)] = value
        return doc

    def to_json(self, *, with_template: bool = True) -> str:
        """Compact JSON (single line: fits an annotation and a dotenv value)."""
        return json.dumps(self.to_dict(with_template=with_template), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> StateRecord:
        """Parse a record; StateError for bad JSON or a schema this version does not know."""
        try:
            doc = json.loads(text)
        except ValueError as exc:
            raise StateError(f"the {STATE_ANNOTATION} annotation is not JSON: {exc}") from exc
        if not isinstance(doc, dict):
            raise StateError(f"the {STATE_ANNOTATION} annotation is not a JSON object")
        if doc.get("apiVersion") != STATE_API_VERSION:
            raise StateError(
                f"the {STATE_ANNOTATION} annotation has apiVersion {doc.get('apiVersion')!r}, "
                f"this ci-deploy reads {STATE_API_VERSION!r} (upgrade ci-deploy?)"
            )
        known = {f.name for f in fields(cls)}
        values = {_snake(k): v for k, v in doc.items() if _snake(k) in known}
        missing = {"app", "environment", "strategy", "phase", "revision"} - values.keys()
        if missing:
            raise StateError(f"the state record lacks {', '.join(sorted(missing))}")
        if values["phase"] not in PHASES:
            raise StateError(f"the state record has an unknown phase {values['phase']!r}")
        return cls(**values)

    def with_changes(self, **changes: Any) -> StateRecord:
        """A copy with ``changes`` and a fresh ``updated_at``."""
        return replace(self, **{"updated_at": utc_now(), **changes})


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


def record_of(deployment: Obj | None) -> StateRecord | None:
    """The record stored on a Deployment object, if any."""
    if deployment is None:
        return None
    text = (deployment.get("metadata", {}).get("annotations") or {}).get(STATE_ANNOTATION)
    return StateRecord.from_json(text) if text else None


class StateStore:
    """Reads and writes the record of one Deployment, with optimistic concurrency."""

    def __init__(self, client: KubeClient, namespace: str, name: str) -> None:
        self.client = client
        self.namespace = namespace
        self.name = name
        self._path = DEPLOYMENT.path(namespace, name)
        self._seen_text: str | None = None  # the annotation as last read or written by us
        self._seen_rv: str | None = None

    def read(self) -> tuple[StateRecord | None, Obj | None]:
        """The record and the Deployment it sits on (both None when there is no Deployment)."""
        deployment = self.client.get_or_none(self._path)
        self._remember(deployment)
        return record_of(deployment), deployment

    def _remember(self, deployment: Obj | None) -> None:
        if deployment is None:
            self._seen_text, self._seen_rv = None, None
            return
        meta = deployment.get("metadata", {})
        self._seen_text = (meta.get("annotations") or {}).get(STATE_ANNOTATION)
        self._seen_rv = meta.get("resourceVersion")

    def write(self, record: StateRecord, *, attempts: int = 10) -> None:
        """Store ``record``; StateError if another writer changed the record since our read.

        Once a record exists, a JSON patch tests that the annotation still holds what we last
        saw and replaces it, so status updates by controllers never make us re-read. The first
        record is created with a merge patch that carries the resourceVersion we read.
        """
        text = record.to_json()
        for _ in range(attempts):
            if self._seen_rv is None:
                self.read()
                if self._seen_rv is None:
                    raise StateError(f"deployment {self.namespace}/{self.name} does not exist")
            try:
                written = self._patch(text)
            except ApiError as exc:
                if exc.status not in (409, 422):
                    raise
                before = self._seen_text
                _, current = self.read()
                if current is None:
                    gone = f"deployment {self.namespace}/{self.name} was deleted"
                    raise StateConflict(gone) from exc
                if self._seen_text == text:
                    return  # our earlier attempt landed; only its answer was lost
                if self._seen_text != before:
                    raise StateConflict(
                        f"the rollout state of {self.namespace}/{self.name} was changed by "
                        "another process while this one was running"
                    ) from exc
                if exc.status == 422 and before is not None:
                    raise  # the test held, so the patch was refused for another reason
                continue  # a conflict on other fields (e.g. status): try again
            self._remember(written)
            return
        raise StateError(f"could not record the rollout state of {self.namespace}/{self.name}")

    def _patch(self, text: str) -> Obj:
        query = [("fieldManager", STATE_FIELD_MANAGER)]
        if self._seen_text is not None:
            pointer = "/metadata/annotations/" + STATE_ANNOTATION.replace("~", "~0").replace(
                "/", "~1"
            )
            ops = [
                {"op": "test", "path": pointer, "value": self._seen_text},
                {"op": "replace", "path": pointer, "value": text},
            ]
            return self.client.request(
                "PATCH", self._path, query=query, body=ops, content_type=JSON_PATCH
            )
        patch = {
            "metadata": {"resourceVersion": self._seen_rv, "annotations": {STATE_ANNOTATION: text}}
        }
        return self.client.request(
            "PATCH", self._path, query=query, body=patch, content_type=MERGE_PATCH
        )
