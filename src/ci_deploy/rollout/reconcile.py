"""A record left ``Progressing`` by a run that ended without writing its outcome, set right.

A job that was killed, or whose last record write ran out of retries, leaves the record saying
``Progressing`` while nothing is running. The next run (holding the lock, so no other run is
going on) reads the truth from the cluster instead: the live template and its health.
"""

from __future__ import annotations

from ci_deploy.kube.client import Obj
from ci_deploy.kube.health import strip_hash
from ci_deploy.kube.revisions import pod_template, template_image
from ci_deploy.kube.state import StateRecord, utc_now


def reconciled(
    record: StateRecord | None, deployment: Obj | None, healthy: bool
) -> StateRecord | None:
    """The record as the cluster says it ended (None: nothing to reconcile). Pure."""
    if record is None or deployment is None or record.phase != "Progressing":
        return None
    if record.plan:  # a progressive rollout in flight: its strategy continues or aborts it
        return None
    live = pod_template(deployment)
    image = template_image(live, record.container)
    stable = record.previous_template
    if healthy and stable is not None and strip_hash(live) == strip_hash(stable):
        phase, what = "RolledBack", f"the stable template ({record.previous_revision}) is live"
    elif healthy and image == record.revision:
        phase, what = "Succeeded", f"{image} is live and available"
    else:
        state = "available" if healthy else "not available"
        phase, what = "Failed", f"{image} is live and {state}"
    return record.with_changes(
        phase=phase,
        finished_at=record.finished_at or utc_now(),
        message=f"reconciled from the cluster: the run that recorded Progressing ended without "
        f"recording its outcome; {what}",
    )
