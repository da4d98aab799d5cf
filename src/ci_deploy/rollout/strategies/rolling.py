"""Rolling update: apply the new template and let the Deployment controller replace the pods."""

from __future__ import annotations

from ci_deploy.kube.applyset import ApplySet
from ci_deploy.rollout.plan import Observed, Target
from ci_deploy.rollout.prune import Prune
from ci_deploy.rollout.steps import (
    Apply,
    Record,
    RecordStable,
    Step,
    VerifyRunning,
    WaitForRollout,
)


class RollingStrategy:
    """record stable → apply → wait for the rollout → verify what runs → record Succeeded."""

    name = "rolling"

    def validate(self, target: Target) -> None:
        """Every rendered app can be rolled."""

    def steps(self, target: Target, observed: Observed, previous_image: str | None) -> list[Step]:
        """The six steps of a rolling update."""
        return [
            RecordStable(previous_image),
            Apply(target.objects, target.image, target.manifests, target.app),
            WaitForRollout(target.app, target.timeout, target.selector),
            VerifyRunning(target.app, target.images, target.selector),
            Prune(ApplySet(target.app, target.namespace)),
            Record("Succeeded"),
        ]
