"""The Job controller (pkg/controller/job), as of Kubernetes 1.32.

Pods run to completion (the kubelet lets a Job's pod exit 0 one ``pod_ready_delay`` after it is
Ready). The controller keeps ``min(parallelism, completions - succeeded)`` pods active; a
failed pod is replaced after a back-off (``pod_ready_delay`` doubling, capped at 32×). Terminal
conditions come in two steps as upstream with JobPodReplacementPolicy/JobManagedBy on:
``SuccessCriteriaMet`` then ``Complete`` (+ ``completionTime``), or ``FailureTarget`` (active
pods deleted) then ``Failed``, reason ``BackoffLimitExceeded`` or ``DeadlineExceeded``.
``suspend`` deletes the active pods and sets ``Suspended``. Indexed jobs give each pod
``batch.kubernetes.io/job-completion-index`` and report ``completedIndexes``.
"""

from __future__ import annotations

import random

from kube_sandbox.controllers.common import adopt_orphans, create_pod, parse_time
from kube_sandbox.controllers.context import JOBS, PODS, Context, edit
from kube_sandbox.controllers.kubelet import iso
from kube_sandbox.controllers.replicaset import pod_ready
from kube_sandbox.storage.store import Obj

COMPONENT = "job-controller"
INDEX_KEY = "batch.kubernetes.io/job-completion-index"
MAX_BACKOFF_FACTOR = 32
SUCCESS = ("CompletionsReached", "Reached expected number of succeeded pods")
BACKOFF = ("BackoffLimitExceeded", "Job has reached the specified backoff limit")
DEADLINE = ("DeadlineExceeded", "Job was active longer than specified deadline")


def job_condition(kind: str, status: str, reason: str, message: str, now: str) -> Obj:
    """A JobCondition (with lastProbeTime, as the Job controller writes them)."""
    return {
        "type": kind,
        "status": status,
        "lastProbeTime": now,
        "lastTransitionTime": now,
        "reason": reason,
        "message": message,
    }


def has_condition(status: Obj, kind: str, value: str = "True") -> Obj | None:
    """The condition of ``kind`` with ``value``, if the job has it."""
    for cond in status.get("conditions") or []:
        if cond.get("type") == kind and cond.get("status") == value:
            return dict(cond)
    return None


def finished(job: Obj) -> bool:
    """Complete=True or Failed=True."""
    status = job.get("status") or {}
    return bool(has_condition(status, "Complete") or has_condition(status, "Failed"))


def compress_indexes(indexes: set[int]) -> str:
    """``{0, 1, 2, 4}`` → ``"0-2,4"`` (status.completedIndexes)."""
    parts, ordered = [], sorted(indexes)
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        parts.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ",".join(parts)


def _phase(pod: Obj) -> str:
    return str((pod.get("status") or {}).get("phase") or "Pending")


def _index(pod: Obj) -> int | None:
    value = (pod["metadata"].get("annotations") or {}).get(INDEX_KEY)
    return int(value) if value is not None and str(value).isdigit() else None


class JobController:
    """Creates a Job's pods, counts their outcomes and writes the Job's status."""

    def __init__(self, rng: random.Random | None = None) -> None:
        self.rng = rng or random.Random(2)
        self._failures: dict[str, tuple[int, float]] = {}  # job uid -> (failed seen, when)

    def reconcile(self, ctx: Context, namespace: str, name: str) -> None:
        job = ctx.cache.get(JOBS, namespace, name)
        if job is None or job["metadata"].get("deletionTimestamp"):
            return
        spec, old = job["spec"], job.get("status") or {}
        adopt_orphans(ctx, job, PODS)
        pods = [
            p
            for p in ctx.cache.children(PODS, job["metadata"]["uid"])
            if not p["metadata"].get("deletionTimestamp")
        ]
        active = [p for p in pods if _phase(p) not in ("Succeeded", "Failed")]
        status: Obj = dict(old)
        now_ts = ctx.now()
        now = iso(now_ts)
        succeeded = max(int(old.get("succeeded") or 0), sum(_phase(p) == "Succeeded" for p in pods))
        failed = max(int(old.get("failed") or 0), sum(_phase(p) == "Failed" for p in pods))
        status["succeeded"], status["failed"] = succeeded, failed
        if finished(job):
            self._delete_all(ctx, job, active)
            active = []
        elif has_condition(old, "FailureTarget"):
            target = has_condition(old, "FailureTarget") or {}
            self._delete_all(ctx, job, active)
            active = []
            self._append(status, "Failed", target["reason"], target["message"], now)
            ctx.record(job, "Warning", target["reason"], target["message"], COMPONENT)
        elif has_condition(old, "SuccessCriteriaMet"):
            self._delete_all(ctx, job, active)
            active = []
            self._append(status, "Complete", *SUCCESS, now)
            status["completionTime"] = now
            ctx.record(job, "Normal", "Completed", "Job completed", COMPONENT)
        elif spec.get("suspend"):
            self._delete_all(ctx, job, active)
            active = []
            self._set_suspended(status, True, now)
        else:
            if has_condition(old, "Suspended"):
                self._set_suspended(status, False, now)
                status["startTime"] = now  # the active deadline counts from the resume
            status.setdefault("startTime", now)
            active = self._run(ctx, job, status, pods, active, now_ts)
        self._write(ctx, job, status, active)

    def _run(
        self, ctx: Context, job: Obj, status: Obj, pods: list[Obj], active: list[Obj], now: float
    ) -> list[Obj]:
        """Check for success and failure, then create or delete pods towards the wanted count."""
        spec, uid = job["spec"], job["metadata"]["uid"]
        completions = spec.get("completions")
        parallelism = int(spec.get("parallelism", 1))
        succeeded, failed = int(status["succeeded"]), int(status["failed"])
        indexed = spec.get("completionMode") == "Indexed"
        done_indexes = {
            i for p in pods if _phase(p) == "Succeeded" for i in [_index(p)] if i is not None
        }
        if indexed:
            old_done = status.get("completedIndexes")
            status["completedIndexes"] = compress_indexes(done_indexes)
            if not status["completedIndexes"] and not old_done:
                status.pop("completedIndexes")
            succeeded = status["succeeded"] = max(succeeded, len(done_indexes))
        backoff_limit = int(spec.get("backoffLimit", 6))
        restarts = 0
        pod_spec = (spec.get("template") or {}).get("spec") or {}
        if pod_spec.get("restartPolicy") == "OnFailure":
            restarts = sum(
                int(c.get("restartCount") or 0)
                for p in active
                for c in (p.get("status") or {}).get("containerStatuses") or []
            )
        over_limit = failed > backoff_limit or (
            pod_spec.get("restartPolicy") == "OnFailure"
            and (restarts > 0 if backoff_limit == 0 else restarts >= backoff_limit)
        )
        started = parse_time(status.get("startTime")) or now
        deadline = spec.get("activeDeadlineSeconds")
        stamp = iso(now)
        failure = BACKOFF if over_limit else None
        if failure is None and deadline is not None:
            if started + int(deadline) <= now:
                failure = DEADLINE
            else:
                meta = job["metadata"]
                ctx.schedule(
                    ("job", meta.get("namespace", ""), meta["name"]),
                    started + int(deadline) - now + 0.05,
                )
        if failure is not None:
            self._append(status, "FailureTarget", *failure, stamp)
            self._delete_all(ctx, job, active)
            status["failed"] = failed + len(active)  # the removed active pods count as failed
            return []
        if completions is None:
            complete = succeeded > 0 and not active
        elif indexed:
            complete = len(done_indexes) >= int(completions)
        else:
            complete = succeeded >= int(completions) and not active
        if complete:
            self._append(status, "SuccessCriteriaMet", *SUCCESS, stamp)
            return active
        if completions is None:
            want = parallelism if succeeded == 0 else len(active)
        else:
            want = min(parallelism, int(completions) - succeeded)
        if len(active) > want:
            surplus = active[want:]
            self._delete_all(ctx, job, surplus)
            return active[:want]
        if len(active) < want:
            wait = self._backoff(ctx, uid, failed, now)
            if wait > 0:
                meta = job["metadata"]
                ctx.schedule(("job", meta.get("namespace", ""), meta["name"]), wait)
                return active
            busy = {i for p in active for i in [_index(p)] if i is not None}
            free = [
                i for i in range(int(completions or 0)) if i not in done_indexes and i not in busy
            ]
            for n in range(want - len(active)):
                index = free[n] if indexed and n < len(free) else None
                if indexed and index is None:
                    break
                active.append(self._create_pod(ctx, job, index))
        return active

    def _backoff(self, ctx: Context, uid: str, failed: int, now: float) -> float:
        """Seconds until a replacement pod may start (doubling per failure, capped)."""
        if failed == 0:
            return 0.0
        seen, since = self._failures.get(uid, (0, now))
        if failed > seen:
            seen, since = failed, now
            self._failures[uid] = (seen, since)
        delay = ctx.pod_ready_delay * float(min(2 ** (failed - 1), MAX_BACKOFF_FACTOR))
        return float(max(since + delay - now, 0.0))

    @staticmethod
    def _append(status: Obj, kind: str, reason: str, message: str, now: str) -> None:
        if has_condition(status, kind):
            return
        status["conditions"] = [
            *(status.get("conditions") or []),
            job_condition(kind, "True", reason, message, now),
        ]

    @staticmethod
    def _set_suspended(status: Obj, suspended: bool, now: str) -> None:
        value = "True" if suspended else "False"
        if has_condition(status, "Suspended", value):
            return
        reason, message = (
            ("JobSuspended", "Job suspended") if suspended else ("JobResumed", "Job resumed")
        )
        others = [c for c in status.get("conditions") or [] if c.get("type") != "Suspended"]
        status["conditions"] = [*others, job_condition("Suspended", value, reason, message, now)]

    def _create_pod(self, ctx: Context, job: Obj, index: int | None) -> Obj:
        meta = job["metadata"]
        template = job["spec"].get("template") or {}
        tmeta = template.get("metadata") or {}
        prefix = f"{meta['name']}-" if index is None else f"{meta['name']}-{index}-"
        labels = dict(tmeta.get("labels") or {})
        annotations = dict(tmeta.get("annotations") or {})
        if index is not None:
            labels[INDEX_KEY] = annotations[INDEX_KEY] = str(index)
        return create_pod(
            ctx,
            job,
            template.get("spec") or {},
            labels,
            annotations,
            prefix=prefix,
            rng=self.rng,
            component=COMPONENT,
        )

    def _delete_all(self, ctx: Context, job: Obj, pods: list[Obj]) -> None:
        for pod in pods:
            meta = pod["metadata"]
            ctx.delete(PODS, meta.get("namespace", ""), meta["name"])
            ctx.record(job, "Normal", "SuccessfulDelete", f"Deleted pod: {meta['name']}", COMPONENT)

    def _write(self, ctx: Context, job: Obj, status: Obj, active: list[Obj]) -> None:
        status["active"] = len(active)
        status["ready"] = sum(1 for p in active if pod_ready(p))
        status["terminating"] = 0
        status["uncountedTerminatedPods"] = {}
        for key in ("active", "succeeded", "failed"):  # omitempty counters
            if not status.get(key):
                status.pop(key, None)
        if status == (job.get("status") or {}):
            return
        fresh = edit(job)
        fresh["status"] = status
        ctx.update(JOBS, fresh)
