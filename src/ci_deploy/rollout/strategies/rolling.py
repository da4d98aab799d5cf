"""Rolling update: apply the new template and let the Deployment controller replace the pods."""

from __future__ import annotations

from ci_deploy.kube.applyset import ApplySet
from ci_deploy.rollout.hooks import POST_DEPLOY, hook_steps
from ci_deploy.rollout.plan import Observed, Target
from ci_deploy.rollout.prune import Prune
from ci_deploy.rollout.steps import (
    Apply,
    Record,
    RecordStable,
    Step,
    VerifyRunning,
    WaitForRollout,
    others_wait,
)


class RollingStrategy:
    """record stable → apply → wait for the rollout (and the other workloads) → verify what
    runs → post-deploy hooks → prune → record Succeeded."""

    name = "rolling"

    def validate(self, target: Target) -> None:
        """Every rendered app can be rolled."""

    def steps(self, target: Target, observed: Observed, previous_image: str | None) -> list[Step]:
        """The steps of a rolling update (six, plus the waits for other workloads and the
        post-deploy hooks when the app has them)."""
        return [
            RecordStable(previous_image),
            Apply(target.objects, target.image, target.manifests, target.deployment),
            WaitForRollout(target.deployment, target.timeout, target.selector),
            *others_wait(target.workloads, target.timeout),
            VerifyRunning(target.deployment, target.images, target.selector),
            *hook_steps(target.hooks, POST_DEPLOY, target.timeout),
            Prune(ApplySet(target.app, target.namespace)),
            Record("Succeeded"),
        ]
