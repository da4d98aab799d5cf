"""GitHub: a deployment per rollout, its statuses, and a commit status — REST API v3.

``deploy`` (and ``rollback``) create a deployment for ``GITHUB_SHA`` in the environment
(``auto_merge: false``, ``required_contexts: []``, the ci-deploy state as ``payload``) and keep
its id in the rollout's record, so ``promote`` and ``abort`` in later jobs post to the same
deployment. Statuses: ``in_progress`` while it runs or waits at a gate, ``success`` when live
(and ``inactive`` on the deployment it replaced: GitHub does not do that itself for production
environments), ``failure`` when a rollout fails — once as it starts rolling back, once with the
result —, ``error`` when the rollback failed too, ``inactive`` when aborted. Every status has
the run as ``log_url`` and the environment URL. The API URL is ``GITHUB_API_URL`` (GitHub
Enterprise Server works), the token the one the configuration names (``GITHUB_TOKEN``).
"""

from __future__ import annotations

from typing import Any

from ci_deploy.config.model import GitHubNotifyConfig
from ci_deploy.httpclient import HttpClient, HttpError
from ci_deploy.lifecycle import Events, RolloutEvent
from ci_deploy.notify import Context, NotifyError, clip, headline

DEPLOYMENT_ID = "github-deployment"
REPLACED_ID = "github-replaced"  # the deployment this rollout replaces: inactive once it is live

# lifecycle event → deployment status state (None: no status for it)
DEPLOYMENT_STATES: dict[str, str] = {
    "started": "in_progress",
    "resumed": "in_progress",
    "paused": "in_progress",
    "rolling_back": "failure",
    "succeeded": "success",
    "failed": "failure",
    "rolled_back": "failure",
    "rollback_failed": "error",
    "aborted": "inactive",
    "verified": "success",  # verify: the live deployment checked again
    "verify_failed": "failure",
}
COMMIT_STATES: dict[str, str] = {
    "started": "pending",
    "resumed": "pending",
    "paused": "pending",
    "succeeded": "success",
    "failed": "failure",
    "rolled_back": "failure",
    "rollback_failed": "error",
    "aborted": "failure",
    "verified": "success",
    "verify_failed": "failure",
}
DESCRIPTION_MAX = 140  # GitHub cuts (commit status) or refuses longer descriptions


class GitHubNotifier:
    """Posts a rollout's deployment and statuses to the repository of the workflow run."""

    name = "github"

    def __init__(
        self, cfg: GitHubNotifyConfig, ctx: Context, token: str, client: HttpClient
    ) -> None:
        self.cfg = cfg
        self.ctx = ctx
        self.required = cfg.required
        self.client = client
        env = ctx.environ
        self.api = env.get("GITHUB_API_URL", "https://api.github.com").rstrip("/")
        self.repo = env["GITHUB_REPOSITORY"]
        self.sha = env["GITHUB_SHA"]
        self.headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
        }

    # -- the lifecycle ----------------------------------------------------------------------
    def notify(self, event: RolloutEvent, events: Events) -> None:
        kind = event.kind
        state = DEPLOYMENT_STATES.get(kind)
        if state is None:
            return
        ids = event.record.status_ids
        deployment = ids.get(DEPLOYMENT_ID)
        description = headline(event, self.ctx.verb)
        if kind in ("rolled_back", "failed", "rollback_failed") and event.record.message:
            description = event.record.message
        if kind == "started" and self.ctx.verb in ("deploy", "rollback"):
            events.remember(DEPLOYMENT_ID, "")  # never post this rollout to an older one
            events.remember(REPLACED_ID, deployment or "")
            deployment = self._create(event)
            events.remember(DEPLOYMENT_ID, deployment)
        if deployment:
            self._status(deployment, state, description)
            replaced = ids.get(REPLACED_ID)
            if kind == "succeeded" and replaced and replaced != deployment:
                self._status(replaced, "inactive", f"replaced by {event.record.revision}")
                events.remember(REPLACED_ID, "")
        commit = COMMIT_STATES.get(kind)
        if self.cfg.commit_status and commit is not None:
            self._commit_status(commit, description)

    # -- the API ----------------------------------------------------------------------------
    def _create(self, event: RolloutEvent) -> str:
        r = event.record
        image = r.previous_revision if self.ctx.verb == "rollback" else r.revision
        body = {
            "ref": self.sha,
            "environment": self.ctx.environment,
            "auto_merge": False,
            "required_contexts": [],
            "description": clip(f"ci-deploy {self.ctx.verb} of {image}", DESCRIPTION_MAX),
            "payload": {"ci-deploy": r.to_dict(with_template=False)},
        }
        answer = self._post(f"/repos/{self.repo}/deployments", body, "create a deployment")
        deployment_id = answer.get("id")
        if not isinstance(deployment_id, int):
            raise NotifyError("GitHub created no deployment (its answer has no id)")
        return str(deployment_id)

    def _status(self, deployment: str, state: str, description: str) -> None:
        body: dict[str, Any] = {
            "state": state,
            "description": clip(description, DESCRIPTION_MAX),
            "environment": self.ctx.environment,
            "auto_inactive": False,  # ci-deploy says which deployment it replaced
        }
        if self.ctx.run_url:
            body["log_url"] = self.ctx.run_url
        if self.ctx.environment_url:
            body["environment_url"] = self.ctx.environment_url
        path = f"/repos/{self.repo}/deployments/{deployment}/statuses"
        self._post(path, body, f"post status {state} on deployment {deployment}")

    def _commit_status(self, state: str, description: str) -> None:
        verb = "verify/" if self.ctx.verb == "verify" else ""
        body: dict[str, Any] = {
            "state": state,
            "description": clip(description, DESCRIPTION_MAX),
            "context": f"ci-deploy/{verb}{self.ctx.environment}",
        }
        if self.ctx.run_url:
            body["target_url"] = self.ctx.run_url
        self._post(f"/repos/{self.repo}/statuses/{self.sha}", body, f"post commit status {state}")

    def _post(self, path: str, body: dict[str, Any], what: str) -> dict[str, Any]:
        try:
            response = self.client.request("POST", self.api + path, json=body, headers=self.headers)
        except HttpError as exc:
            raise NotifyError(f"could not {what}: {exc.message}") from exc
        if response.status_code not in (200, 201, 202):
            raise NotifyError(f"could not {what}: {_refusal(response)}")
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        return answer if isinstance(answer, dict) else {}


def _refusal(response: Any) -> str:
    """GitHub's own words for a refusal: status and ``message`` (one inert line)."""
    try:
        message = response.json().get("message", "")
    except (ValueError, AttributeError):
        message = ""
    hint = ""
    if response.status_code in (401, 403):
        hint = "; the token needs the deployments: write and statuses: write permissions"
    return clip(f"GitHub answered {response.status_code} {message}".rstrip(), 300) + hint
