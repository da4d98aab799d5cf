"""Slack: Block Kit messages by incoming webhook, or one message per rollout with a bot token.

With ``webhook_url_env`` every lifecycle event in ``events`` posts a message. With
``bot_token_env`` and ``channel`` the first such event posts one message
(``chat.postMessage``) whose channel and timestamp the rollout's record keeps; later events —
also from ``promote`` and ``abort`` jobs — update it in place (``chat.update``).

Text from the cluster or the workspace (images, messages, verdicts) goes in ``plain_text``
objects or a code block with ``&``, ``<`` and ``>`` escaped: Slack renders none of it as a
link, a mention or formatting.
"""

from __future__ import annotations

from typing import Any

from ci_deploy.config.model import SlackConfig
from ci_deploy.httpclient import HttpClient, HttpError
from ci_deploy.lifecycle import Events, RolloutEvent
from ci_deploy.notify import Context, NotifyError, clip, headline

MESSAGE_TS = "slack-ts"
MESSAGE_CHANNEL = "slack-channel"
ICONS = {
    "succeeded": "✅",
    "failed": "❌",
    "rolled_back": "↩️",
    "rolling_back": "⚠️",
    "rollback_failed": "🚨",
    "aborted": "⏹️",
    "paused": "⏸️",
    "verified": "✅",
    "verify_failed": "❌",
}


def escape(text: str) -> str:
    """Slack's three control characters, escaped (mrkdwn)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def plain(text: str, limit: int) -> dict[str, Any]:
    return {"type": "plain_text", "text": clip(text, limit) or "-", "emoji": False}


def message(event: RolloutEvent, ctx: Context) -> dict[str, Any]:
    """The Block Kit message for ``event``: header, fields, message, verdicts, a run link."""
    r = event.record
    icon = ICONS.get(event.kind, "🚀")
    title = f"{icon} {r.app} to {r.environment}: {r.phase}"
    if event.kind in ("verified", "verify_failed"):
        passed = "passed" if event.kind == "verified" else "failed"
        title = f"{icon} {r.app} in {r.environment}: verify {passed}"
    fields = [
        plain(f"app: {r.app}", 2000),
        plain(f"environment: {r.environment}", 2000),
        plain(f"version: {r.revision}", 2000),
        plain(f"phase: {r.phase}", 2000),
        plain(f"strategy: {r.strategy}", 2000),
    ]
    if r.previous_revision:
        fields.append(plain(f"previous: {r.previous_revision}", 2000))
    if r.canary_weight is not None:
        fields.append(plain(f"canary weight: {r.canary_weight:g}%", 2000))
    if r.step:
        fields.append(plain(f"step: {r.step}", 2000))
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": plain(title, 150)},
        {"type": "section", "text": plain(headline(event, ctx.verb), 3000), "fields": fields},
    ]
    if r.message:
        blocks.append({"type": "section", "text": plain(r.message, 3000)})
    if r.verdicts:
        from ci_deploy.analysis.report import text_block

        lines = "\n".join(text_block(r.verdicts)).replace("```", "'''")
        code = escape(lines)[:2900]
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"```{code}```"}})
    if ctx.run_url:
        link = f"<{escape(ctx.run_url)}|the pipeline run>"
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": link}]})
    text = clip(f"{r.app} to {r.environment}: {r.phase} — {headline(event, ctx.verb)}", 3000)
    return {"text": text, "blocks": blocks}


class SlackNotifier:
    """Posts (webhook) or posts-then-updates (bot) the rollout's message."""

    name = "slack"

    def __init__(
        self,
        cfg: SlackConfig,
        ctx: Context,
        client: HttpClient,
        *,
        webhook: str | None,
        token: str | None,
    ) -> None:
        self.cfg = cfg
        self.ctx = ctx
        self.required = cfg.required
        self.client = client
        self.webhook = webhook
        self.token = token

    def notify(self, event: RolloutEvent, events: Events) -> None:
        if event.kind not in self.cfg.events:
            return
        body = message(event, self.ctx)
        if self.token and self.cfg.channel:
            self._bot(body, event, events)
        elif self.webhook:
            self._webhook(body)

    def _webhook(self, body: dict[str, Any]) -> None:
        assert self.webhook is not None
        try:
            response = self.client.request("POST", self.webhook, json=body)
        except HttpError as exc:
            # its message names the URL: the webhook's path is the secret
            raise NotifyError(f"the webhook did not answer: {_reason(exc.message)}") from exc
        if response.status_code != 200:
            raise NotifyError(
                clip(
                    f"the webhook refused the message: {response.status_code} {response.text}", 300
                )
            )

    def _bot(self, body: dict[str, Any], event: RolloutEvent, events: Events) -> None:
        ids = event.record.status_ids
        ts, channel = ids.get(MESSAGE_TS), ids.get(MESSAGE_CHANNEL)
        if self.ctx.verb == "verify":  # a reply in the rollout's thread, never an edit of it
            thread = {"thread_ts": ts} if ts and channel else {}
            answer = self._api(
                "chat.postMessage", {**body, "channel": channel or self.cfg.channel, **thread}
            )
            if not answer.get("ok"):
                raise NotifyError(f"chat.postMessage failed: {clip(str(answer.get('error')), 100)}")
            return
        if event.kind == "started" and self.ctx.verb in ("deploy", "rollback"):
            ts = None  # a new rollout: its own message (the record still has the last one's)
        if ts and channel:
            answer = self._api("chat.update", {**body, "channel": channel, "ts": ts})
            if answer.get("ok"):
                return
            if answer.get("error") != "message_not_found":
                raise NotifyError(f"chat.update failed: {clip(str(answer.get('error')), 100)}")
        answer = self._api("chat.postMessage", {**body, "channel": self.cfg.channel})
        if not answer.get("ok"):
            raise NotifyError(f"chat.postMessage failed: {clip(str(answer.get('error')), 100)}")
        events.remember(MESSAGE_TS, str(answer.get("ts", "")))
        events.remember(MESSAGE_CHANNEL, str(answer.get("channel", "")))

    def _api(self, method: str, body: dict[str, Any]) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.token}"}
        url = f"{self.cfg.api_url.rstrip('/')}/{method}"
        try:
            response = self.client.request("POST", url, json=body, headers=headers)
        except HttpError as exc:
            raise NotifyError(f"{method}: {exc.message}") from exc
        if response.status_code != 200:
            raise NotifyError(f"{method}: Slack answered {response.status_code}")
        try:
            answer = response.json()
        except ValueError as exc:
            raise NotifyError(f"{method}: Slack's answer is not JSON") from exc
        return answer if isinstance(answer, dict) else {}


def _reason(message: str) -> str:
    return message.split(": ", 1)[-1]
