"""The CronJob controller (pkg/controller/cronjob, v2): Jobs on a five-field cron schedule.

At each scheduled time (in ``spec.timeZone``, default UTC) it creates the Job
``<cronjob>-<scheduled time in Unix minutes>`` from ``jobTemplate``, with a controller
ownerReference and the ``batch.kubernetes.io/cronjob-scheduled-timestamp`` annotation.
Missed times since ``lastScheduleTime`` (or the creation) start only the latest one, and not at
all past ``startingDeadlineSeconds``. ``concurrencyPolicy`` Allow / Forbid / Replace and the
history limits are honoured. A timer wakes the controller at the next scheduled minute.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from kube_sandbox.controllers.common import owner_reference, parse_time
from kube_sandbox.controllers.context import CRONJOBS, JOBS, Context, edit
from kube_sandbox.controllers.job import finished, has_condition
from kube_sandbox.controllers.kubelet import iso
from kube_sandbox.objects import defaults
from kube_sandbox.storage.store import Obj, now_iso

COMPONENT = "cronjob-controller"
SCHEDULED_ANNOTATION = "batch.kubernetes.io/cronjob-scheduled-timestamp"
MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
_DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]


def _field(text: str, lo: int, hi: int, names: list[str], base: int) -> tuple[set[int], bool]:
    """The values of one cron field and whether it was ``*`` (robfig/cron semantics)."""
    values: set[int] = set()
    star = False

    def number(word: str) -> int:
        word = word.lower()
        if word in names:
            return names.index(word) + base
        value = int(word)
        if not lo <= value <= hi:
            raise ValueError(f"{value} out of range [{lo}, {hi}]")
        return value

    for part in text.split(","):
        step = 1
        if "/" in part:
            part, step_text = part.split("/", 1)
            step = int(step_text)
            if step <= 0:
                raise ValueError("step must be positive")
        if part in ("*", "?"):
            first, last = lo, hi
            star = star or step == 1
        elif "-" in part:
            a, b = part.split("-", 1)
            first, last = number(a), number(b)
        else:
            first = number(part)
            last = hi if "/" in text else first
        values |= set(range(first, last + 1, step))
    return values, star


@dataclass(frozen=True)
class Schedule:
    """A parsed standard cron schedule (minute hour day-of-month month day-of-week)."""

    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    any_day: bool  # day-of-month or day-of-week was *: both must match (else either)

    @classmethod
    def parse(cls, text: str) -> Schedule:
        text = MACROS.get(text.strip(), text.strip())
        parts = text.split()
        if len(parts) != 5:
            raise ValueError(f"expected exactly 5 fields, found {len(parts)}: {text}")
        minutes, _ = _field(parts[0], 0, 59, [], 0)
        hours, _ = _field(parts[1], 0, 23, [], 0)
        days, dom_star = _field(parts[2], 1, 31, [], 1)
        months, _ = _field(parts[3], 1, 12, _MONTHS, 1)
        weekdays, dow_star = _field(parts[4], 0, 7, _DAYS, 0)
        weekdays = {d % 7 for d in weekdays}
        return cls(
            frozenset(minutes),
            frozenset(hours),
            frozenset(days),
            frozenset(months),
            frozenset(weekdays),
            dom_star or dow_star,
        )

    def _day_matches(self, day: datetime) -> bool:
        dom = day.day in self.days
        dow = (day.isoweekday() % 7) in self.weekdays
        return (dom and dow) if self.any_day else (dom or dow)

    def next_after(self, moment: datetime) -> datetime | None:
        """The first scheduled minute strictly after ``moment`` (None within five years)."""
        start = moment.replace(second=0, microsecond=0) + timedelta(minutes=1)
        day = start.replace(hour=0, minute=0)
        for _ in range(366 * 5):
            if day.month in self.months and self._day_matches(day):
                for hour in sorted(self.hours):
                    for minute in sorted(self.minutes):
                        candidate = day.replace(hour=hour, minute=minute)
                        if candidate >= start:
                            return candidate
            day = (day + timedelta(days=1)).replace(hour=0, minute=0)
        return None

    def latest_between(self, earliest: datetime, now: datetime) -> datetime | None:
        """The most recent scheduled minute in (earliest, now], if any."""
        found = None
        moment = earliest
        if now - earliest > timedelta(days=2):  # upstream gives up counting after 100 misses
            moment = now - timedelta(days=2)
        while True:
            nxt = self.next_after(moment)
            if nxt is None or nxt > now:
                return found
            found = moment = nxt


def _zone(name: str | None) -> tzinfo:
    if not name:
        return timezone.utc
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return timezone.utc


def rfc3339(moment: datetime) -> str:
    """Go's time.RFC3339 (``Z`` for UTC, else the offset)."""
    text = moment.strftime("%Y-%m-%dT%H:%M:%S%z")
    if text.endswith("+0000"):
        return text[:-5] + "Z"
    return text[:-2] + ":" + text[-2:]


def job_ref(job: Obj) -> Obj:
    """The ObjectReference a CronJob's status.active lists."""
    meta = job["metadata"]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "name": meta["name"],
        "namespace": meta.get("namespace", ""),
        "resourceVersion": meta.get("resourceVersion", ""),
        "uid": meta["uid"],
    }


class CronJobController:
    """Creates the scheduled Jobs of CronJobs, trims their history, writes status."""

    def reconcile(self, ctx: Context, namespace: str, name: str) -> None:
        cj = ctx.cache.get(CRONJOBS, namespace, name)
        if cj is None or cj["metadata"].get("deletionTimestamp"):
            return
        spec, old = cj.get("spec") or {}, cj.get("status") or {}
        status: Obj = dict(old)
        jobs = ctx.cache.children(JOBS, cj["metadata"]["uid"])
        active = [j for j in jobs if not finished(j)]
        done = [j for j in jobs if finished(j)]
        for job in done:
            completed = (job.get("status") or {}).get("completionTime")
            complete = has_condition(job.get("status") or {}, "Complete")
            if complete and completed and completed > str(status.get("lastSuccessfulTime") or ""):
                status["lastSuccessfulTime"] = completed
        self._trim(ctx, cj, done)
        zone = _zone(spec.get("timeZone"))
        now = datetime.fromtimestamp(ctx.now(), timezone.utc).astimezone(zone)
        try:
            schedule = Schedule.parse(str(spec.get("schedule") or ""))
        except ValueError as err:
            ctx.record(
                cj, "Warning", "UnparseableSchedule", f"unparseable schedule: {err}", COMPONENT
            )
            return
        if not spec.get("suspend"):
            since = parse_time(old.get("lastScheduleTime")) or parse_time(
                cj["metadata"].get("creationTimestamp")
            )
            earliest = datetime.fromtimestamp(since or ctx.now(), timezone.utc).astimezone(zone)
            due = schedule.latest_between(earliest, now)
            deadline = spec.get("startingDeadlineSeconds")
            if due is not None and deadline is not None and due < now - timedelta(seconds=deadline):
                due = None  # missed by more than startingDeadlineSeconds: skipped
            if due is not None:
                active = self._start(ctx, cj, due, active, status)
            nxt = schedule.next_after(now)
            if nxt is not None:
                wait = (nxt - now).total_seconds() + 0.05
                ctx.schedule(("cronjob", namespace, name), max(wait, 0.0))
        if active:
            # a reference keeps the resourceVersion the Job had when it was started
            known = {r.get("uid"): r for r in old.get("active") or []}
            status["active"] = [known.get(j["metadata"]["uid"]) or job_ref(j) for j in active]
        else:
            status.pop("active", None)
        if status == old:
            return
        fresh = edit(cj)
        fresh["status"] = status
        ctx.update(CRONJOBS, fresh)

    def _start(
        self, ctx: Context, cj: Obj, due: datetime, active: list[Obj], status: Obj
    ) -> list[Obj]:
        meta = cj["metadata"]
        namespace = meta.get("namespace", "")
        job_name = f"{meta['name']}-{int(due.timestamp()) // 60}"
        if ctx.cache.get(JOBS, namespace, job_name) is not None:
            status["lastScheduleTime"] = iso(due.timestamp())
            return active  # started already
        policy = (cj.get("spec") or {}).get("concurrencyPolicy", "Allow")
        if policy == "Forbid" and active:
            ctx.record(
                cj,
                "Normal",
                "JobAlreadyActive",
                "Not starting job because prior execution is running and concurrency policy is "
                "Forbid",
                COMPONENT,
            )
            return active
        if policy == "Replace":
            for running in active:
                jmeta = running["metadata"]
                ctx.delete(JOBS, jmeta.get("namespace", ""), jmeta["name"])
                ctx.record(
                    cj, "Normal", "SuccessfulDelete", f"Deleted job {jmeta['name']}", COMPONENT
                )
            active = []
        template = (cj.get("spec") or {}).get("jobTemplate") or {}
        tmeta = template.get("metadata") or {}
        annotations = {
            **(tmeta.get("annotations") or {}),
            SCHEDULED_ANNOTATION: rfc3339(due),
        }
        job: Obj = {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {
                "name": job_name,
                "namespace": namespace,
                "uid": str(uuid.uuid4()),
                "creationTimestamp": now_iso(),
                "generation": 1,
                "annotations": annotations,
                "ownerReferences": [owner_reference(cj)],
            },
            "spec": dict(template.get("spec") or {}),
            "status": {},
        }
        if tmeta.get("labels"):
            job["metadata"]["labels"] = dict(tmeta["labels"])
        # the API server would default it; controllers write to the store directly
        defaults.apply_defaults("Job", job)
        created = ctx.create(JOBS, job)
        ctx.record(cj, "Normal", "SuccessfulCreate", f"Created job {job_name}", COMPONENT)
        status["lastScheduleTime"] = iso(due.timestamp())
        return [*active, created]

    def _trim(self, ctx: Context, cj: Obj, done: list[Obj]) -> None:
        """Delete the oldest finished Jobs beyond the history limits."""
        spec = cj.get("spec") or {}
        for complete, key, default in (
            (True, "successfulJobsHistoryLimit", 3),
            (False, "failedJobsHistoryLimit", 1),
        ):
            limit = int(spec.get(key, default))
            kept = [
                j
                for j in done
                if bool(has_condition(j.get("status") or {}, "Complete")) == complete
            ]
            kept.sort(key=lambda j: str((j.get("status") or {}).get("startTime") or ""))
            for job in kept[: max(len(kept) - limit, 0)]:
                jmeta = job["metadata"]
                ctx.delete(JOBS, jmeta.get("namespace", ""), jmeta["name"])
                ctx.record(
                    cj, "Normal", "SuccessfulDelete", f"Deleted job {jmeta['name']}", COMPONENT
                )
