"""Rolling update: apply the new template and let the Deployment controller replace the pods."""

from __future__ import annotations

from ci_deploy.rollout.plan import (
    Apply,
    Observed,
    Record,
    RecordStable,
    Step,
    Target,
    WaitForRollout,
)


class RollingStrategy:
    """record stable → apply → wait for the rollout → record Succeeded."""

    name = "rolling"

    def steps(self, target: Target, observed: Observed, previous_image: str | None) -> list[Step]:
        """The four steps of a rolling update."""
        return [
            RecordStable(previous_image),
            Apply(target.objects, target.image),
            WaitForRollout(target.app, target.timeout),
            Record("Succeeded"),
        ]
