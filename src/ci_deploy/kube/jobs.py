"""Running a Job to its end: replace any Job of the same name, apply, watch its conditions.

A Job's pod template cannot be changed once created, so a hook is run as Helm runs its hooks
by default (``before-hook-creation``): the Job left by the previous run is deleted first (its
pods go with it, in the background), then the new one is applied. The Job ends with the
condition ``Complete`` or ``Failed`` (the Job controller's reasons: ``BackoffLimitExceeded``,
``DeadlineExceeded``, …). When it fails, the logs of its failed pods are what people need: the
last lines of every container, bounded in lines and bytes.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ci_deploy.kube.apply import apply_object
from ci_deploy.kube.cancel import CancelToken
from ci_deploy.kube.client import JOB, POD, KubeClient, Obj
from ci_deploy.kube.errors import ApiError, NetworkError
from ci_deploy.kube.watch import Cache, Event, ResourceWatcher, fold_events

HOOK_ANNOTATION = "ci-deploy.dev/hook"  # on a rendered Job: run it before or after the rollout
PRE_DEPLOY = "pre-deploy"
POST_DEPLOY = "post-deploy"
WHEN = (PRE_DEPLOY, POST_DEPLOY)
HELM_HOOK = "helm.sh/hook"  # a chart's hooks: its install / upgrade ones become ours
HELM_PRE = {"pre-install", "pre-upgrade"}
HELM_POST = {"post-install", "post-upgrade"}
UID_LABEL = "batch.kubernetes.io/controller-uid"  # set on a Job's pods by the API server
LOG_LINES = 20  # per container of a failed pod
LOG_BYTES = 16 * 1024
LOG_PODS = 3  # failed pods whose logs are shown (the most recent)


def hook_problem(obj: Obj) -> str | None:
    """What is wrong with an object's hook annotation (on a non-Job, an unknown value)."""
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    value = annotations.get(HOOK_ANNOTATION) if isinstance(annotations, dict) else None
    if value is None:
        return None
    if obj.get("kind") != "Job" or obj.get("apiVersion") != "batch/v1":
        return f"annotation {HOOK_ANNOTATION} is for Jobs (batch/v1), not a {obj.get('kind')}"
    if value not in WHEN:
        return f"annotation {HOOK_ANNOTATION} is {value!r}; expected one of {', '.join(WHEN)}"
    return None


def _helm_hooks(obj: Obj) -> set[str]:
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    value = annotations.get(HELM_HOOK) if isinstance(annotations, dict) else None
    return {h.strip() for h in str(value).split(",") if h.strip()} if value else set()


def hook_of(obj: Obj) -> str | None:
    """The hook a rendered (validated) object is: ``pre-deploy``, ``post-deploy``, or None.

    A chart's Job hooks count too: ``helm.sh/hook: pre-install`` / ``pre-upgrade`` is a
    pre-deploy hook, ``post-install`` / ``post-upgrade`` a post-deploy one.
    """
    if obj.get("kind") != "Job":
        return None
    value = ((obj.get("metadata") or {}).get("annotations") or {}).get(HOOK_ANNOTATION)
    if value in WHEN:
        return str(value)
    helm = _helm_hooks(obj)
    if helm & HELM_PRE:
        return PRE_DEPLOY
    if helm & HELM_POST:
        return POST_DEPLOY
    return None


def helm_hook_skipped(obj: Obj) -> bool:
    """A chart's hook ci-deploy has no moment for (only ``test``, ``pre-delete``,
    ``post-rollback``, …): not applied at all, as ``helm upgrade`` would not apply it either.
    A chart's install / upgrade hooks that are not Jobs are applied with the rest."""
    helm = _helm_hooks(obj)
    return bool(helm) and not helm & (HELM_PRE | HELM_POST)


@dataclass(frozen=True)
class JobOutcome:
    """How a Job ended: ``complete``, ``failed``, ``timeout`` or ``cancelled``."""

    result: str
    message: str
    job: Obj = field(default_factory=dict, compare=False)


def condition(job: Obj, kind: str) -> Obj | None:
    """The Job's condition ``kind`` (Complete, Failed) when its status is True."""
    for cond in (job.get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind and cond.get("status") == "True":
            return dict(cond)
    return None


def job_state(job: Obj) -> JobOutcome | None:
    """The end of ``job`` if it has ended (None while it runs)."""
    status = job.get("status") or {}
    done = condition(job, "Complete")
    if done is not None:
        return JobOutcome("complete", f"{_pods(status.get('succeeded'))} succeeded", job)
    failed = condition(job, "Failed")
    if failed is not None:
        reason = failed.get("reason") or "Failed"
        message = failed.get("message") or ""
        counts = f"{_pods(status.get('failed'))} failed"
        return JobOutcome("failed", f"{reason}: {message} ({counts})", job)
    return None


def _pods(count: object) -> str:
    n = count if isinstance(count, int) else 0
    return f"{n} pod{'s' if n != 1 else ''}"


def job_progress(job: Obj) -> str:
    """``1 active, 0 succeeded, 2 failed``."""
    status = job.get("status") or {}
    return ", ".join(f"{int(status.get(k) or 0)} {k}" for k in ("active", "succeeded", "failed"))


def delete_previous(
    client: KubeClient, namespace: str, name: str, *, timeout: float, cancel: CancelToken
) -> bool:
    """Delete the Job ``name`` left by an earlier run (its pods in the background) and wait
    until it is gone; False when there was none."""
    path = JOB.path(namespace, name)
    try:
        client.request("DELETE", path, body={"propagationPolicy": "Background"})
    except ApiError as exc:
        if exc.status == 404:
            return False
        raise
    deadline = time.monotonic() + timeout
    while client.get_or_none(path) is not None:
        if time.monotonic() > deadline:
            raise NetworkError(f"job {name} is still being deleted after {timeout:.0f}s")
        if cancel.wait(0.2):
            break
    return True


def run_job(
    client: KubeClient,
    manifest: Obj,
    *,
    timeout: float,
    cancel: CancelToken,
    on_progress: Callable[[str], None] | None = None,
) -> JobOutcome:
    """Apply ``manifest`` (a Job, after deleting the previous one) and watch it to its end."""
    namespace = str(manifest["metadata"]["namespace"])
    name = str(manifest["metadata"]["name"])
    started = time.monotonic()
    delete_previous(client, namespace, name, timeout=timeout, cancel=cancel)
    created = apply_object(client, manifest)
    uid = created["metadata"].get("uid")
    events: queue.Queue[Event | None] = queue.Queue()
    remove = cancel.on_cancel(lambda: events.put(None))
    watcher = ResourceWatcher(
        client, JOB, namespace, events, field_selector=f"metadata.name={name}"
    )
    watcher.start()
    cache = Cache()
    deadline = started + timeout
    try:
        while True:
            if cancel.is_set():
                return JobOutcome("cancelled", cancel.reason or "cancelled")
            left = deadline - time.monotonic()
            if left <= 0:
                return JobOutcome("timeout", f"not finished after {timeout:.0f}s")
            fold_events(events, cache, left)
            job = cache.objects.get("jobs", {}).get(name)
            if job is None:
                continue
            if uid and job["metadata"].get("uid") != uid:
                return JobOutcome("failed", "the Job was replaced by someone else while it ran")
            ended = job_state(job)
            if ended is not None:
                return ended
            if on_progress is not None:
                on_progress(job_progress(job))
    finally:
        remove()
        threading.Thread(target=watcher.stop, daemon=True).start()


def failed_pod_logs(client: KubeClient, job: Obj) -> list[str]:
    """The last lines of every container of the Job's most recent failed pods, as
    ``pod/NAME container C: line`` (an unreadable log says why instead)."""
    meta = job.get("metadata") or {}
    namespace, uid = str(meta.get("namespace", "")), meta.get("uid")
    if not uid:
        return []
    pods = client.get(POD.path(namespace), [("labelSelector", f"{UID_LABEL}={uid}")])
    failed = [p for p in pods.get("items") or [] if _failed(p)]
    failed.sort(key=lambda p: str(p["metadata"].get("creationTimestamp") or ""), reverse=True)
    lines: list[str] = []
    for pod in failed[:LOG_PODS]:
        pod_name = str(pod["metadata"]["name"])
        for container in (pod.get("spec") or {}).get("containers") or []:
            cname = str(container.get("name"))
            prefix = f"pod/{pod_name} container {cname}"
            query = [
                ("container", cname),
                ("tailLines", str(LOG_LINES)),
                ("limitBytes", str(LOG_BYTES)),
            ]
            try:
                text = client.get_text(f"{POD.path(namespace, pod_name)}/log", query)
            except (ApiError, NetworkError) as exc:
                lines.append(f"{prefix}: log not readable: {exc}")
                continue
            shown = text.splitlines()[-LOG_LINES:]
            lines += [f"{prefix}: {line}" for line in shown] or [f"{prefix}: (empty log)"]
    return lines


def _failed(pod: Obj) -> bool:
    status = pod.get("status") or {}
    if status.get("phase") == "Failed":
        return True
    for cs in status.get("containerStatuses") or []:
        terminated = (cs.get("state") or {}).get("terminated") or {}
        if int(terminated.get("exitCode") or 0) != 0:
            return True
    return False
