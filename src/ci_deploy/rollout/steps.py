"""The steps every strategy shares, each with the code that runs it.

A step is a small frozen dataclass: what it carries is everything its ``run`` uses besides the
session (``RolloutContext``: client, namespace, record, progress). ``describe`` is its line in
the printed plan; ``run`` does it, or raises ``StepFailed``. A strategy with steps of its own
(canary weights, blue-green switches) defines them in its module, in the same shape; the
executor runs any of them the same way.

Making a step does no I/O, so a plan is a pure function of config and cluster state and
``ci-deploy plan`` prints exactly what ``deploy`` will run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn

from ci_deploy.config.values import Duration
from ci_deploy.kube.apply import ApplyError, apply_object
from ci_deploy.kube.applyset import Membership
from ci_deploy.kube.changes import apply_tracked, restore_changes
from ci_deploy.kube.client import DEPLOYMENT, POD, REPLICASET
from ci_deploy.kube.health import REVISION_ANNOTATION, deadline_condition
from ci_deploy.kube.revisions import restore_template
from ci_deploy.kube.state import Phase
from ci_deploy.kube.verify import running_mismatches
from ci_deploy.kube.watch import selector_text, wait_for_rollout
from ci_deploy.rollout.session import RolloutContext, RolloutPaused, StepFailed

if TYPE_CHECKING:
    from ci_deploy.analysis.model import Verdict
    from ci_deploy.analysis.run import StageAnalysis
    from ci_deploy.analysis.spec import AnalysisSpec

Obj = dict[str, Any]


@dataclass(frozen=True)
class Step:
    """One thing a rollout does; ``name`` is stable text used in the state record."""

    name = "step"

    def describe(self) -> str:
        """One line for the printed plan."""
        return self.name

    def run(self, ctx: RolloutContext) -> None:
        """Do it (raise ``StepFailed`` when it cannot finish)."""
        raise StepFailed("failed", f"step {self.name} is not supported by this version")


@dataclass(frozen=True)
class RecordStable(Step):
    """Remember the exact pod template that is stable now (what a rollback restores)."""

    image: str | None  # None: first deploy, nothing to roll back to
    plan: Obj | None = field(default=None, compare=False)  # a progressive rollout's parameters
    name = "record-stable"

    def describe(self) -> str:
        if self.image is None:
            return "record stable revision: none (first deploy: a failure cannot be rolled back)"
        return f"record stable revision: {self.image}"

    def run(self, ctx: RolloutContext) -> None:
        # The safety net of a killed job: without it no later run knows what to roll back to.
        ctx.save(strict=True, previous_revision=self.image, plan=self.plan)


@dataclass(frozen=True)
class Apply(Step):
    """Server-side apply every rendered object (field manager ci-deploy), after a dry run.

    The API server first admits all of them in a dry run (a refusal there changes nothing);
    then each is applied and compared with its state before, so a failure knows what changed.
    """

    objects: tuple[str, ...]  # "Deployment web-app", ...
    image: str
    manifests: tuple[Obj, ...] = field(default=(), compare=False)  # the rendered objects
    deployment: str = ""  # the app's Deployment among them (its timed-out condition is stale)
    # the app's ApplySet: recorded on its parent before the objects are applied (pruning)
    membership: Membership | None = field(default=None, compare=False)
    name = "apply"

    def describe(self) -> str:
        shown = ", ".join(self.objects[:6]) + (" …" if len(self.objects) > 6 else "")
        return f"apply {len(self.objects)} objects with image {self.image}: {shown}"

    def run(self, ctx: RolloutContext) -> None:
        if self.membership is not None:
            try:
                self.membership.write_parent(ctx.client, apply_object)
            except ApplyError as exc:
                if exc.error.refused_credentials:  # nothing was changed: exit 4
                    raise StepFailed("forbidden", exc.error.credentials_line()) from exc
                raise StepFailed("failed", f"recording the app's ApplySet: {exc}") from exc
        report = apply_tracked(ctx.client, list(self.manifests))
        ctx.apply_report = report
        primary = next(
            (c for c in report.changes if c.kind == DEPLOYMENT and c.name == self.deployment),
            None,
        )
        # The Deployment as it was before the apply (read by it): its timed-out condition is
        # stale.
        ctx.stale_deadline = deadline_condition(primary.before if primary else None)
        if primary is not None and primary.after is not None:
            ctx.deployment_exists = True
        if report.dry_run_refused:
            denied = [c.error.error for c in report.refused if c.error]
            if denied and all(e.refused_credentials for e in denied):
                # the user may not: say what, as the API said it (recovery: exit 4)
                raise StepFailed("forbidden", " and ".join(e.credentials_line() for e in denied))
            raise StepFailed("failed", f"the API server refused in a dry run: {report.summary()}")
        if report.refused or any(not c.known for c in report.changes):
            raise StepFailed("failed", f"applying failed: {report.summary()}")
        ctx.progress.line(f"applied: {report.summary()}")


@dataclass(frozen=True)
class WaitForRollout(Step):
    """Watch the Deployment until its new pods are available (or fail fast)."""

    deployment: str
    timeout: float
    selector: str = ""  # the Deployment's pod selector (label selector text)
    name = "wait-rollout"

    def describe(self) -> str:
        return f"wait for deployment/{self.deployment} to roll out (timeout {self.timeout:.0f}s)"

    def run(self, ctx: RolloutContext) -> None:
        outcome = wait_for_rollout(
            ctx.client,
            ctx.namespace,
            self.deployment,
            self.selector,
            timeout=self.timeout,
            cancel=ctx.cancel,
            on_progress=lambda s: ctx.progress.update(s.message),
            fail_fast_grace=ctx.fail_fast_grace,
            extra_stop=ctx.lock_lost,
            stale_deadline=ctx.stale_deadline,
        )
        if outcome.deployment is not None:
            annotations = outcome.deployment["metadata"].get("annotations") or {}
            revision = annotations.get(REVISION_ANNOTATION)
            if revision:
                ctx.record = ctx.record.with_changes(deployment_revision=str(revision))
        if outcome.result == "done":
            ctx.progress.line(f"rollout complete: {outcome.message}")
            return
        wait_failed(ctx, outcome.result, outcome.message)


@dataclass(frozen=True)
class WaitForWorkloads(Step):
    """Watch the app's other workloads (Deployments, StatefulSets, DaemonSets besides the
    primary) until every one has rolled out; the first that fails fails the step."""

    workloads: tuple[str, ...]  # "StatefulSet db", ...
    timeout: float
    name = "wait-workloads"

    def describe(self) -> str:
        shown = ", ".join(ref_text(r) for r in self.workloads)
        return f"wait for the other workloads to roll out (timeout {self.timeout:.0f}s): {shown}"

    def run(self, ctx: RolloutContext) -> None:
        _wait_workloads(ctx, self.workloads, self.timeout, stale=_stale_deadlines(ctx))


def others_wait(workloads: tuple[str, ...], timeout: float) -> list[Step]:
    """The step that waits for the other workloads, when the app has any."""
    return [WaitForWorkloads(workloads, timeout)] if workloads else []


def ref_text(ref: str) -> str:
    """``StatefulSet db`` → ``statefulset/db`` (as kubectl names it)."""
    kind, _, name = ref.partition(" ")
    return f"{kind.lower()}/{name}"


def _stale_deadlines(ctx: RolloutContext) -> dict[str, Obj | None]:
    """Each applied Deployment's timed-out condition from before the apply (stale)."""
    report = ctx.apply_report
    if report is None:
        return {}
    return {
        f"{c.kind.kind} {c.name}": deadline_condition(c.before)
        for c in report.changes
        if c.kind.kind == "Deployment"
    }


def _wait_workloads(
    ctx: RolloutContext, refs: tuple[str, ...], timeout: float, stale: dict[str, Obj | None]
) -> None:
    from ci_deploy.kube.workloads import wait_for_workloads

    outcome = wait_for_workloads(
        ctx.client,
        ctx.namespace,
        refs,
        timeout=timeout,
        cancel=ctx.cancel,
        on_progress=ctx.progress.update,
        fail_fast_grace=ctx.fail_fast_grace,
        extra_stop=ctx.lock_lost,
        stale_deadlines=stale,
    )
    if outcome.result == "done":
        ctx.progress.line(f"rolled out: {', '.join(ref_text(r) for r in refs)}")
        return
    wait_failed(ctx, outcome.result, outcome.message)


def wait_failed(ctx: RolloutContext, result: str, message: str) -> NoReturn:
    """A wait that did not end in ``done``: its kind, or ``lost`` when the lock went meanwhile."""
    if result == "failed" and ctx.lock_lost is not None and ctx.lock_lost.is_set():
        raise StepFailed("lost", message)
    raise StepFailed(result, message)


@dataclass(frozen=True)
class VerifyRunning(Step):
    """Check that the Deployment and its Ready pods run exactly the images it was given."""

    deployment: str
    images: tuple[tuple[str, str], ...]  # (container, image) of the pod template
    selector: str = ""
    name = "verify"

    def describe(self) -> str:
        shown = ", ".join(f"{c}={i}" for c, i in self.images)
        return f"verify that deployment/{self.deployment} and its Ready pods run {shown}"

    def run(self, ctx: RolloutContext) -> None:
        deployment = ctx.client.get(DEPLOYMENT.path(ctx.namespace, self.deployment))
        query = [("labelSelector", self.selector)] if self.selector else None
        replicasets = ctx.client.get(REPLICASET.path(ctx.namespace), query).get("items") or []
        pods = ctx.client.get(POD.path(ctx.namespace), query).get("items") or []
        problems = running_mismatches(deployment, replicasets, pods, dict(self.images))
        if problems:
            raise StepFailed("failed", "what runs is not what was deployed: " + "; ".join(problems))
        shown = ", ".join(f"{c}={i}" for c, i in self.images)
        ctx.progress.line(f"verified: deployment/{self.deployment} and its Ready pods run {shown}")


@dataclass(frozen=True)
class Record(Step):
    """Write the final phase to the state record."""

    phase: str  # Succeeded | RolledBack | Aborted
    message: str = ""  # for people; empty: "<revision> rolled out and verified"
    name = "record"

    def describe(self) -> str:
        return f"record phase {self.phase}"

    def run(self, ctx: RolloutContext) -> None:
        phases: dict[str, Phase] = {"Succeeded": "Succeeded", "Aborted": "Aborted"}
        phase = phases.get(self.phase, "RolledBack")
        # The rollout is over: what a later promote or abort would continue from goes.
        ctx.record = ctx.record.with_changes(plan=None, canary_weight=None)
        ctx.set_phase(phase, self.message or f"{ctx.record.revision} rolled out and verified")


@dataclass(frozen=True)
class Pause(Step):
    """A manual gate of a progressive rollout: record Paused and stop; ``promote`` continues
    after it (``deploy --no-pause`` and ``promote --full`` pass it)."""

    where: str  # "after stage expanded", "before the switch to green"
    environment: str
    name = "pause"

    def describe(self) -> str:
        return (
            f"pause {self.where}: wait for `ci-deploy promote --env {self.environment}` "
            "(or `abort`)"
        )

    def run(self, ctx: RolloutContext) -> None:
        if ctx.skip_pauses:
            ctx.progress.line(f"gate {self.where} passed without a pause (as asked)")
            return
        message = (
            f"paused {self.where}: run `ci-deploy promote --env {self.environment}` to "
            f"continue, or `ci-deploy abort --env {self.environment}`"
        )
        ctx.set_phase("Paused", message, final=False)
        raise RolloutPaused(message, self.name)


@dataclass(frozen=True)
class Smoke(Step):
    """Run the smoke checks (``analysis.smoke``: HTTP requests, the user's test command)
    against the new version before traffic reaches it (the preview Service of a blue-green
    rollout, the canary before its first weight) — or after a switch. A failed check fails
    the step: the failure path undoes the rollout."""

    when: str  # "before traffic", "before the switch to green"
    service: str  # {{ service }}: the Service that reaches the version under test
    track: str = "canary"
    color: str = ""
    analysis: AnalysisSpec | None = field(default=None, compare=False)
    name = "smoke"

    def describe(self) -> str:
        checks = self.analysis.smoke if self.analysis is not None else ()
        names = ", ".join(c.name for c in checks)
        return f"smoke checks {self.when} ({{{{ service }}}} = {self.service}): {names}"

    def run(self, ctx: RolloutContext) -> None:
        from pathlib import Path

        from ci_deploy.analysis.judge import overall
        from ci_deploy.analysis.report import recorded, summary, verdict_lines
        from ci_deploy.analysis.smoke import smoke_verdicts

        assert self.analysis is not None, "a smoke step carries the checks it runs"
        variables = {
            "url": "",
            **self.analysis.variables,
            "service": self.service,
            "track": self.track,
            "color": self.color,
        }
        verdicts = tuple(smoke_verdicts(self.analysis.smoke, variables, Path(self.analysis.root)))
        result = overall(verdicts)
        ctx.progress.line(f"smoke checks {self.when}: {result}")
        for line in verdict_lines(verdicts):
            ctx.progress.line(line)
        subject = f"smoke checks {self.when}"
        ctx.save(analysis=summary(subject, result, verdicts), verdicts=recorded(verdicts))
        if result != "pass":
            failed = next(v for v in verdicts if v.result != "pass")
            raise StepFailed("failed", f"{subject}: {failed.check} failed: {failed.reason}")


@dataclass(frozen=True)
class Watch(Step):
    """Let some time pass (a canary stage, the blue-green keep time) while the watched
    Deployment must stay healthy: every pod ready, none restarted — and, with ``analysis``,
    the rollback triggers hold every ``interval`` and the stage's success criteria at its end
    (``analysis.run``). A breach fails the step (the failure path rolls back); an
    inconclusive end pauses the rollout for a human (``--no-pause``: fails it instead).
    """

    subject: str  # what the time is for, in messages: "stage initial"
    seconds: float
    written: str  # as configured ("15m"); empty: not time-scaled
    deployment: str
    selector: str
    criteria: tuple[str, ...] = ()
    what: str = "watch"
    analysis: AnalysisSpec | None = field(default=None, compare=False)
    stage: str | None = None  # whose success criteria are judged (None: triggers only)
    track: str = "canary"  # whose metrics: canary before the promotion, stable after
    baseline: bool = False  # a baseline runs beside the canary: compared at the stage's end
    color: str = ""  # blue-green: the colour whose metrics (then track is the colour too)
    name = "watch"

    def describe(self) -> str:
        took = duration_text(self.seconds)
        if self.written and self.written != took:
            took = f"{self.written} (time-scaled: {took})"
        text = f"{self.subject}: {self.what} {took}: deployment/{self.deployment} stays healthy"
        rules = self.analysis.rules(self.stage, self.track, self.color) if self.analysis else ()
        judged = bool(rules)
        if judged and self.analysis is not None:
            criteria = [f"{r.metric} {r.threshold.canonical}" for r in rules if not r.trigger]
            triggers = [f"{r.metric} {r.threshold.canonical}" for r in rules if r.trigger]
            every = duration_text(self.analysis.interval)
            if triggers:
                back = "switch back" if self.color else "roll back"
                text += f"; {back} at once if {' or '.join(triggers)} (every {every})"
            if criteria:
                text += f"; at the end {', '.join(criteria)} must hold"
            text += f" ({self.track} metrics)"
        compared = self.analysis.baseline if self.analysis is not None and self.baseline else None
        if compared is not None:
            text += (
                f"; at the end the canary's {', '.join(compared.metrics)} compared with the"
                f" baseline's (Mann–Whitney U, band +{compared.tolerance:g}%)"
            )
        if not judged and self.criteria:
            text += f"; success criteria {', '.join(self.criteria)} are not judged"
        return text

    def run(self, ctx: RolloutContext) -> None:
        judge = self._analysis()
        try:
            self._watch(ctx, judge)
        finally:
            if judge is not None:
                judge.close()

    def _analysis(self) -> StageAnalysis | None:
        if self.analysis is None:
            return None
        compared = self.baseline and self.analysis.baseline is not None
        if not compared and not self.analysis.rules(self.stage, self.track, self.color):
            return None
        from ci_deploy.analysis.run import StageAnalysis

        return StageAnalysis(
            self.analysis, self.stage, self.track, baseline=self.baseline, color=self.color
        )

    def _watch(self, ctx: RolloutContext, judge: StageAnalysis | None) -> None:
        started = time.monotonic()
        deadline = started + self.seconds
        interval = self.analysis.interval if self.analysis is not None else 1.0
        next_tick = started
        baseline: dict[str, int] | None = None
        while True:
            baseline = self._check(ctx, baseline)
            now = time.monotonic()
            if judge is not None and now >= next_tick and now < deadline:
                next_tick = max(next_tick + interval, now)
                tripped = judge.tick()
                if tripped is not None and tripped.result == "inconclusive":
                    # error_limit measurements in a row without a value, no_data: inconclusive
                    self._report(ctx, "inconclusive", (tripped,), judge)
                    self._inconclusive(ctx, tripped)
                if tripped is not None:
                    self._report(ctx, "fail", (tripped,), judge)
                    how = "breached" if tripped.value is not None else "failed"  # no_data: fail
                    raise StepFailed(
                        "failed",
                        f"{self.subject}: rollback trigger {tripped.check} {how}: {tripped.reason}",
                    )
            left = deadline - time.monotonic()
            if left <= 0:
                break
            wait = min(left, 1.0, max(0.0, next_tick - time.monotonic()) if judge else 1.0)
            ctx.progress.update(f"{self.subject}: healthy, {duration_text(round(left))} left")
            if ctx.cancel.wait(wait):
                raise StepFailed("cancelled", ctx.cancel.reason or "cancelled")
        if judge is None:
            ctx.progress.line(f"{self.subject}: {duration_text(self.seconds)} passed, healthy")
            return
        result, verdicts = judge.conclude()
        self._report(ctx, result, verdicts, judge)
        if result == "fail":
            failed = [v for v in verdicts if v.result == "fail"]
            raise StepFailed(
                "failed",
                f"{self.subject}: {failed[0].check} failed: {failed[0].reason}",
            )
        if result == "inconclusive":
            self._inconclusive(ctx, next(v for v in verdicts if v.result == "inconclusive"))
        ctx.progress.line(
            f"{self.subject}: {duration_text(self.seconds)} passed, healthy, analysis passed"
        )

    def _inconclusive(self, ctx: RolloutContext, unsure: Verdict) -> NoReturn:
        """Nobody could judge ``unsure``: pause for a human (``--no-pause``: fail instead)."""
        why = f"{self.subject}: inconclusive: {unsure.check}: {unsure.reason}"
        if ctx.skip_pauses:
            raise StepFailed("failed", f"{why} (--no-pause: not passed without a human)")
        env = ctx.record.environment
        message = (
            f"paused, {why}: a human decides — `ci-deploy promote --env {env}` accepts the"
            f" stage, `ci-deploy abort --env {env}` rolls it back"
        )
        ctx.set_phase("Paused", message, final=False)
        raise RolloutPaused(message, self.name)

    def _report(
        self,
        ctx: RolloutContext,
        result: str,
        verdicts: tuple[Verdict, ...],
        judge: StageAnalysis,
    ) -> None:
        """The verdicts in the log, the verdicts and the stage's measurements in the record
        (best effort: the outcome still stands)."""
        from ci_deploy.analysis.report import chart_series, recorded, summary, verdict_lines

        ctx.progress.line(f"{self.subject}: analysis {result} ({self.track} metrics)")
        for line in verdict_lines(verdicts):
            ctx.progress.line(line)
        weight = ctx.record.canary_weight
        series = chart_series(
            ctx.record.series, judge.history, self.stage or "monitor", self.track, weight
        )
        ctx.save(
            analysis=summary(self.subject, result, verdicts),
            verdicts=recorded(verdicts),
            series=series,
        )

    def _check(self, ctx: RolloutContext, before: dict[str, int] | None) -> dict[str, int]:
        deployment = ctx.client.get(DEPLOYMENT.path(ctx.namespace, self.deployment))
        wanted = int((deployment.get("spec") or {}).get("replicas", 1))
        ready = int((deployment.get("status") or {}).get("readyReplicas") or 0)
        pods = ctx.client.get(POD.path(ctx.namespace), [("labelSelector", self.selector)])
        restarts = {
            str(p["metadata"]["name"]): sum(
                int(c.get("restartCount") or 0)
                for c in (p.get("status") or {}).get("containerStatuses") or []
            )
            for p in pods.get("items") or []
        }
        if ready < wanted:
            raise StepFailed(
                "failed",
                f"{self.subject}: deployment/{self.deployment} has {ready} of {wanted} pods ready",
            )
        if before is not None:
            restarted = [n for n, count in restarts.items() if count > before.get(n, count)]
            if restarted:
                raise StepFailed(
                    "failed",
                    f"{self.subject}: pod {', '.join(sorted(restarted))} of "
                    f"deployment/{self.deployment} restarted",
                )
        return restarts


# -- the steps of a recovery (after a failed step) -----------------------------------------------
@dataclass(frozen=True)
class RestoreTemplate(Step):
    """Put the Deployment's stable pod template back (exactly, as recorded)."""

    deployment: str
    image: str | None
    template: Obj | None = field(default=None, compare=False)
    name = "restore-template"

    def describe(self) -> str:
        return f"restore deployment/{self.deployment} to the stable template ({self.image})"

    def run(self, ctx: RolloutContext) -> None:
        assert self.template is not None, "a restore step carries the template it restores"
        ctx.progress.line(f"rolling back {ctx.namespace}/{self.deployment} to {self.image}")
        ctx.before_change(self.deployment)
        restore_template(ctx.client, ctx.namespace, self.deployment, self.template)


@dataclass(frozen=True)
class RestoreObjects(Step):
    """Undo what this run did to other objects: delete those it created, put back the rest."""

    objects: tuple[str, ...]  # refs; empty in a printed plan: "whatever the run touched"
    changes: tuple[Any, ...] = field(default=(), compare=False)  # kube.changes.ObjectChange
    name = "restore-objects"

    def describe(self) -> str:
        if not self.objects:
            return "restore the other objects this run changed; delete those it created"
        return f"restore {len(self.objects)} objects as they were: {', '.join(self.objects)}"

    def run(self, ctx: RolloutContext) -> None:
        _undo(self.changes, ctx)


@dataclass(frozen=True)
class WaitForRestored(Step):
    """After the other objects were put back: watch the workloads among them roll back.

    A StatefulSet (``OrderedReady``) never replaces a pod of the broken revision that is not
    Ready, so once its controller has taken the restored template, those pods are deleted
    (the forced rollback of the Kubernetes documentation) and come back at the restored one.
    """

    timeout: float
    primary: str = ""  # the primary Deployment (restored by its own steps)
    name = "wait-restored"

    def describe(self) -> str:
        return (
            "wait for the other workloads this run changed to roll back (a StatefulSet's pods "
            f"stuck on the new revision are deleted) (timeout {self.timeout:.0f}s)"
        )

    def run(self, ctx: RolloutContext) -> None:
        from ci_deploy.kube.workloads import WORKLOAD_KINDS

        report = ctx.apply_report
        restored = [
            c
            for c in (report.touched if report is not None else [])
            if c.before is not None
            and c.kind.kind in WORKLOAD_KINDS
            and not (c.kind.kind == "Deployment" and c.name == (self.primary or ctx.record.app))
        ]
        if not restored:
            ctx.progress.line("no other workload to wait for")
            return
        for change in restored:
            if change.kind.kind == "StatefulSet" and change.before is not None:
                _force_statefulset_back(ctx, change.before, self.timeout)
        refs = tuple(f"{c.kind.kind} {c.name}" for c in restored)
        _wait_workloads(ctx, refs, self.timeout, stale={})


def _force_statefulset_back(ctx: RolloutContext, before: Obj, timeout: float) -> None:
    """Once the StatefulSet's controller has the restored template (its update revision is
    the one it had before), delete its pods stuck on another revision and not Ready."""
    from ci_deploy.kube.client import STATEFULSET
    from ci_deploy.kube.workloads import broken_revision_pods

    name = str(before["metadata"]["name"])
    wanted = (before.get("status") or {}).get("updateRevision")
    deadline = time.monotonic() + min(timeout, 60.0)
    while True:
        sts = ctx.client.get(STATEFULSET.path(ctx.namespace, name))
        status = sts.get("status") or {}
        caught_up = int(status.get("observedGeneration") or 0) >= int(
            sts["metadata"].get("generation") or 0
        )
        if caught_up and status.get("updateRevision") == wanted:
            break
        if time.monotonic() > deadline or ctx.cancel.wait(0.2):
            return  # the wait that follows says what is wrong
    selector = selector_text(sts)
    query = [("labelSelector", selector)] if selector else None
    pods = ctx.client.get(POD.path(ctx.namespace), query).get("items") or []
    stuck = broken_revision_pods({**sts, "status": {"updateRevision": wanted}}, pods)
    for pod in stuck:
        ctx.client.request(
            "DELETE", POD.path(ctx.namespace, pod), body={"propagationPolicy": "Background"}
        )
    if stuck:
        ctx.progress.line(
            f"statefulset/{name}: deleted {pods_text(stuck)} stuck on the new revision (not "
            "Ready): the controller recreates what it deleted at the restored revision"
        )


@dataclass(frozen=True)
class RemoveCreated(Step):
    """A first deploy whose apply failed halfway: delete every object it created."""

    objects: tuple[str, ...]
    changes: tuple[Any, ...] = field(default=(), compare=False)
    name = "remove-created"

    def describe(self) -> str:
        listed = ", ".join(self.objects) if self.objects else "every object it created"
        return f"delete what this first deploy created ({listed})"

    def run(self, ctx: RolloutContext) -> None:
        _undo(self.changes, ctx)
        ctx.deployment_exists = False  # the record went with the Deployment


def _undo(changes: tuple[Any, ...], ctx: RolloutContext) -> None:
    result = restore_changes(ctx.client, changes)
    done = [f"deleted {r}" for r in result.deleted] + [f"restored {r}" for r in result.restored]
    if done:
        ctx.progress.line("; ".join(done))
    if result.failed:
        failed = "; ".join(f"{ref}: {error}" for ref, error in result.failed)
        raise StepFailed("failed", f"could not restore {failed}")


def pods_text(pods: list[str]) -> str:
    """``pods a, b, c, …``: at most three names, for messages."""
    shown = ", ".join(pods[:3]) + (", …" if len(pods) > 3 else "")
    return f"pod{'s' if len(pods) != 1 else ''} {shown}"


def wait_until_pods_gone(
    ctx: RolloutContext, selector: str, timeout: float, *, done: str, waiting: str
) -> None:
    """Poll (every 0.2 s) until no pod matches ``selector``, or fail with ``timeout``:
    "<done>, but pods … are still there after …"."""
    deadline = time.monotonic() + timeout
    while True:
        pods = ctx.client.get(POD.path(ctx.namespace), [("labelSelector", selector)])
        left = sorted(str(p["metadata"]["name"]) for p in pods.get("items") or [])
        if not left:
            return
        if time.monotonic() > deadline:
            raise StepFailed(
                "timeout",
                f"{done}, but {pods_text(left)} are still there after {duration_text(timeout)}",
            )
        ctx.progress.update(f"waiting for {len(left)} {waiting} to go")
        if ctx.cancel.wait(0.2):
            raise StepFailed("cancelled", ctx.cancel.reason or "cancelled")


def duration_text(seconds: float) -> str:
    """``90`` → ``1m30s``: a duration as configuration writes it."""
    return Duration(seconds).canonical
