"""Hook Jobs: Jobs marked ``ci-deploy.dev/hook: pre-deploy | post-deploy`` run around a rollout.

A rendered Job with the annotation is not applied with the rest. A ``pre-deploy`` hook runs
before anything of the rollout (the plan's ``hooks``, numbered apart), is awaited, and when it
fails the logs of its failed pods are printed and the deploy stops before any workload changes
(exit 1, phase Aborted; the Job is left for inspection). A ``post-deploy`` hook runs once the
new version is rolled out and verified, before pruning and the record Succeeded; when it fails
the rollout fails and is undone like after any failed step. The Job of the previous run is
deleted before a hook's Job is applied (a Job's template cannot change), as Helm does by
default (``before-hook-creation``); hook Jobs are not members of the app's ApplySet, so they are
never pruned.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ci_deploy.kube.apply import ApplyError
from ci_deploy.kube.errors import ApiError, NetworkError
from ci_deploy.kube.jobs import POST_DEPLOY, PRE_DEPLOY, failed_pod_logs, hook_of, run_job
from ci_deploy.rollout.session import RolloutContext, StepFailed
from ci_deploy.rollout.steps import Step

Obj = dict[str, Any]
__all__ = ["POST_DEPLOY", "PRE_DEPLOY", "RunHook", "RunPostHook", "hook_of", "hook_steps"]


def hooks_of(hooks: Iterable[Obj], when: str) -> tuple[Obj, ...]:
    """The hook Jobs of ``when``, in rendering order."""
    return tuple(h for h in hooks if hook_of(h) == when)


@dataclass(frozen=True)
class RunHook(Step):
    """Run a hook Job and wait for it to end; on a failure print its failed pods' logs."""

    job: str
    timeout: float
    manifest: Obj = field(default_factory=dict, compare=False)
    when = PRE_DEPLOY
    name = "pre-deploy-hook"

    def describe(self) -> str:
        return (
            f"run {self.when} hook job/{self.job} (the previous one deleted first) and wait "
            f"for it to complete (timeout {self.timeout:.0f}s)"
        )

    def run(self, ctx: RolloutContext) -> None:
        manifest = {**self.manifest, "metadata": {**self.manifest.get("metadata", {})}}
        manifest["metadata"].setdefault("namespace", ctx.namespace)
        ctx.progress.line(f"{self.when} hook job/{self.job}: starting")
        try:
            outcome = run_job(
                ctx.client,
                manifest,
                timeout=self.timeout,
                cancel=ctx.cancel,
                on_progress=lambda text: ctx.progress.update(f"hook job/{self.job}: {text}"),
            )
        except ApplyError as exc:
            raise StepFailed("failed", f"{self.when} hook job/{self.job}: {exc}") from exc
        if outcome.result == "complete":
            ctx.progress.line(f"{self.when} hook job/{self.job} completed: {outcome.message}")
            return
        if outcome.result == "failed":
            try:
                logs = failed_pod_logs(ctx.client, outcome.job)
            except (ApiError, NetworkError) as exc:
                logs = [f"the pods' logs could not be read: {exc}"]
            if logs:
                ctx.progress.line(f"logs of the failed pods of job/{self.job}:")
            for line in logs:
                ctx.progress.line(f"  {line}")
        look = f"kubectl -n {manifest['metadata']['namespace']} describe job/{self.job}"
        raise StepFailed(
            outcome.result, f"{self.when} hook job/{self.job} failed: {outcome.message} ({look})"
        )


@dataclass(frozen=True)
class RunPostHook(RunHook):
    """A ``post-deploy`` hook: after the new version is verified, before pruning."""

    when = POST_DEPLOY
    name = "post-deploy-hook"


def hook_steps(hooks: Iterable[Obj], when: str, timeout: float) -> list[Step]:
    """The steps that run the hook Jobs of ``when``."""
    kind = RunHook if when == PRE_DEPLOY else RunPostHook
    return [kind(str(h["metadata"]["name"]), timeout, h) for h in hooks if hook_of(h) == when]


def pre_deploy_failed(failure: StepFailed) -> bool:
    """The failure is a pre-deploy hook's: no workload was changed."""
    return failure.step == RunHook.name
