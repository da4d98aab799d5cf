"""GitLab: a merge-request note per rollout, updated in place — REST API v4.

GitLab creates the deployment itself from the job's ``environment:`` (the templates set it,
with the URL from the dotenv report), so ci-deploy only adds, in merge-request pipelines
(``CI_MERGE_REQUEST_IID``), one note on the merge request: the rollout's phase, images, step,
message and analysis verdicts. The first event of a rollout posts it; later ones — also from
``promote`` and ``abort`` jobs — edit it (its id is kept in the record). The API is
``CI_API_V4_URL``.

The note is Markdown that GitLab renders: every value from the cluster is a code span, and no
line of it starts with ``/``, so nothing in it is a quick action (``/merge``, ``/approve``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from ci_deploy.config.model import GitLabNotifyConfig
from ci_deploy.httpclient import HttpClient, HttpError
from ci_deploy.lifecycle import Events, RolloutEvent
from ci_deploy.notify import Context, NotifyError, clip, headline
from ci_deploy.text import markdown_code

NOTE_ID = "gitlab-note"
EVENTS = frozenset(
    {
        "started",
        "paused",
        "resumed",
        "rolling_back",
        "succeeded",
        "failed",
        "aborted",
        "rolled_back",
        "rollback_failed",
    }
)


def note_body(event: RolloutEvent, ctx: Context) -> str:
    """The note: a title line, a table of the rollout, the verdicts."""
    r = event.record
    rows = [
        ("phase", r.phase),
        ("what happened", headline(event, ctx.verb)),
        ("image", r.revision),
        ("previous", r.previous_revision or "-"),
        ("step", r.step or "-"),
        ("message", r.message or "-"),
    ]
    if r.canary_weight is not None:
        rows.append(("canary weight", f"{r.canary_weight:g}%"))
    if ctx.run_url:
        rows.append(("job", ctx.run_url))
    lines = [f"### ci-deploy: {r.app} to {r.environment}: {r.phase}", "", "| | |", "|---|---|"]
    lines += [f"| {name} | {markdown_code(value)} |" for name, value in rows]
    if r.verdicts:
        from ci_deploy.analysis.report import markdown_table

        lines += ["", "#### Analysis verdicts", "", markdown_table(r.verdicts)]
    return "\n".join(line if not line.startswith("/") else " " + line for line in lines) + "\n"


class GitLabNotifier:
    """Posts and edits the rollout's note on the merge request of the pipeline."""

    name = "gitlab"

    def __init__(
        self, cfg: GitLabNotifyConfig, ctx: Context, token: str, client: HttpClient
    ) -> None:
        self.cfg = cfg
        self.ctx = ctx
        self.required = cfg.required
        self.client = client
        env = ctx.environ
        project = quote(env["CI_PROJECT_ID"], safe="")
        iid = quote(env["CI_MERGE_REQUEST_IID"], safe="")
        self.notes = (
            f"{env['CI_API_V4_URL'].rstrip('/')}/projects/{project}/merge_requests/{iid}/notes"
        )
        header = "JOB-TOKEN" if cfg.token_env == "CI_JOB_TOKEN" else "PRIVATE-TOKEN"
        self.headers = {header: token}

    def notify(self, event: RolloutEvent, events: Events) -> None:
        if event.kind not in EVENTS:
            return
        body = {"body": note_body(event, self.ctx)}
        note = event.record.status_ids.get(NOTE_ID)
        if event.kind == "started" and self.ctx.verb in ("deploy", "rollback"):
            note = None  # a new rollout: its own note
        if note:
            response = self._send("PUT", f"{self.notes}/{quote(note, safe='')}", body)
            if response.status_code == 200:
                return
            if response.status_code != 404:  # deleted by someone: post a new one
                raise NotifyError(f"could not edit the note: {_refusal(response)}")
        response = self._send("POST", self.notes, body)
        if response.status_code != 201:
            raise NotifyError(f"could not post the note: {_refusal(response)}")
        try:
            note_id = response.json().get("id")
        except (ValueError, AttributeError):
            note_id = None
        if isinstance(note_id, int):
            events.remember(NOTE_ID, str(note_id))

    def _send(self, method: str, url: str, body: dict[str, Any]) -> Any:
        try:
            return self.client.request(method, url, json=body, headers=self.headers)
        except HttpError as exc:
            raise NotifyError(f"GitLab did not answer: {exc.message}") from exc


def _refusal(response: Any) -> str:
    try:
        message = response.json().get("message", "")
    except (ValueError, AttributeError):
        message = ""
    return clip(f"GitLab answered {response.status_code} {message}".rstrip(), 300)
