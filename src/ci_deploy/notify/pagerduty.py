"""PagerDuty Events API v2: an incident when a rollback fails, resolved when a deploy succeeds.

One incident per app and environment (``dedup_key`` ``ci-deploy/<app>/<environment>``): a
second failed rollback adds to the open incident instead of paging again. The key of an open
incident is kept in the rollout's record, so the next successful rollout there resolves it.
"""

from __future__ import annotations

from typing import Any

from ci_deploy.config.model import PagerDutyConfig
from ci_deploy.httpclient import HttpClient, HttpError
from ci_deploy.lifecycle import Events, RolloutEvent
from ci_deploy.notify import Context, NotifyError, clip

INCIDENT_ID = "pagerduty-incident"


class PagerDutyNotifier:
    """Triggers on ``rollback_failed``; resolves on ``succeeded`` when an incident is open."""

    name = "pagerduty"

    def __init__(
        self, cfg: PagerDutyConfig, ctx: Context, routing_key: str, client: HttpClient
    ) -> None:
        self.cfg = cfg
        self.ctx = ctx
        self.required = cfg.required
        self.routing_key = routing_key
        self.client = client

    @property
    def dedup_key(self) -> str:
        return f"ci-deploy/{self.ctx.app}/{self.ctx.environment}"

    def notify(self, event: RolloutEvent, events: Events) -> None:
        r = event.record
        if event.kind == "rollback_failed":
            details = {
                "phase": r.phase,
                "revision": r.revision,
                "previous_revision": r.previous_revision,
                "step": r.step,
                "message": r.message,
                "run": self.ctx.run_url,
            }
            payload: dict[str, Any] = {
                "summary": clip(
                    f"ci-deploy: the rollback of {r.app} in {r.environment} failed: {r.message}",
                    1024,
                ),
                "source": f"{r.app} ({r.environment})",
                "severity": self.cfg.severity,
                "component": r.app,
                "group": r.environment,
                "class": "deployment",
                "custom_details": {k: v for k, v in details.items() if v},
            }
            body: dict[str, Any] = {
                "routing_key": self.routing_key,
                "event_action": "trigger",
                "dedup_key": self.dedup_key,
                "payload": payload,
                "client": "ci-deploy",
            }
            if self.ctx.run_url:
                body["links"] = [{"href": self.ctx.run_url, "text": "the pipeline run"}]
            self._send(body, "trigger an incident")
            events.remember(INCIDENT_ID, self.dedup_key)
        elif event.kind == "succeeded" and r.status_ids.get(INCIDENT_ID):
            body = {
                "routing_key": self.routing_key,
                "event_action": "resolve",
                "dedup_key": r.status_ids[INCIDENT_ID],
            }
            self._send(body, "resolve the incident")
            events.remember(INCIDENT_ID, "")

    def _send(self, body: dict[str, Any], what: str) -> None:
        try:
            response = self.client.request("POST", self.cfg.events_url, json=body)
        except HttpError as exc:
            raise NotifyError(f"could not {what}: {_without_url(exc.message)}") from exc
        if response.status_code != 202:
            try:
                errors = response.json().get("errors") or response.json().get("message", "")
            except (ValueError, AttributeError):
                errors = ""
            raise NotifyError(
                clip(f"could not {what}: PagerDuty answered {response.status_code} {errors}", 300)
            )


def _without_url(message: str) -> str:
    """HttpClient's message names the URL first ("URL: reason"): keep the reason."""
    return message.split(": ", 1)[-1]
