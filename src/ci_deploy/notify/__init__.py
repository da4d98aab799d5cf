"""Notifiers: GitHub deployments and statuses, Slack, PagerDuty — listeners of the lifecycle.

Each service is one module with one class implementing :class:`Notifier`; a verb subscribes the
notifiers of the configuration (``notifications:`` in ci-deploy.yml) once, through
:func:`notifications_for`, and every lifecycle event of the rollout reaches each of them.

Delivery never blocks a rollback: every request has a timeout and bounded retries (the
project's HTTP client), and a notifier that fails is a warning — shown in the job log and the
job summary — unless the configuration marks it ``required``: then a failure at the start stops
the rollout before anything is changed (exit 4), and a later one fails the job (exit 1) once
the rollout's own outcome is reached and reported. Secrets (tokens, webhook URLs, routing keys)
are read from the environment variables the configuration names, masked at once, and never
written to outputs or the state record; messages about a failed post name the service, never
its URL.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from ci_deploy.config.model import NotificationsConfig
from ci_deploy.httpclient import HttpClient, HttpOptions
from ci_deploy.lifecycle import Events, RequiredListenerFailed, RolloutEvent
from ci_deploy.platforms import Platform
from ci_deploy.text import one_line


class NotifyError(Exception):
    """A post did not reach the service, or the service refused it (message: no secrets)."""


@dataclass(frozen=True)
class Context:
    """What every notifier knows besides the event: where it runs and what it reports on."""

    verb: str  # deploy | promote | abort | rollback
    app: str
    environment: str
    environment_url: str | None
    run_url: str | None  # the pipeline run or job (log_url, links)
    environ: Mapping[str, str]


class Notifier(Protocol):
    """One service: told every lifecycle event; raises NotifyError when a post fails."""

    name: str
    required: bool

    def notify(self, event: RolloutEvent, events: Events) -> None:
        """Post what ``event`` means to this service (or nothing); ids via ``events.remember``."""
        ...


class Notifications:
    """The listener a verb subscribes: tells each notifier, turns failures into warnings."""

    def __init__(self, notifiers: Sequence[Notifier], events: Events, platform: Platform) -> None:
        self.notifiers = tuple(notifiers)
        self.events = events
        self.platform = platform
        self.failed: list[str] = []  # for the job summary

    def __call__(self, event: RolloutEvent) -> None:
        stop: RequiredListenerFailed | None = None
        for notifier in self.notifiers:
            try:
                notifier.notify(event, self.events)
            except NotifyError as exc:
                text = one_line(f"{notifier.name}: {exc}")[:500]
                self.failed.append(f"{event.kind}: {text}")
                if notifier.required:
                    self.platform.error(f"required notification failed: {text}")
                    stop = stop or RequiredListenerFailed(
                        f"the required notifier {text} (notifications.{notifier.name}.required)"
                    )
                else:
                    self.platform.warning(
                        f"notification failed ({event.kind}): {text}; the rollout goes on"
                    )
        if stop is not None:
            raise stop


def http_client(cfg: NotificationsConfig) -> HttpClient:
    """The HTTP client every notifier shares: the configured timeout and retries."""
    return HttpClient(HttpOptions(timeout=cfg.timeout.seconds, retries=cfg.retries, max_delay=4.0))


def notifications_for(
    cfg: NotificationsConfig, ctx: Context, events: Events, platform: Platform
) -> Notifications:
    """The configured notifiers that can post from here, as one listener of ``events``.

    A notifier whose secret is not set is left out with a warning (exit 2 when it is
    required: nothing has been locked or changed yet); GitHub is used only where a workflow
    run is (``GITHUB_REPOSITORY`` and ``GITHUB_SHA``).
    """
    from ci_deploy.errors import UserInputError

    notifiers: list[Notifier] = []
    missing: list[tuple[str, str, bool]] = []  # (notifier, what is missing, required)
    client: HttpClient | None = None

    def shared() -> HttpClient:
        nonlocal client
        client = client or http_client(cfg)
        return client

    def secret(name: str) -> str | None:
        value = ctx.environ.get(name, "").strip()
        if value:
            platform.mask(value)
        return value or None

    if (
        cfg.github.enabled
        and ctx.environ.get("GITHUB_REPOSITORY")
        and ctx.environ.get("GITHUB_SHA")
    ):
        token = secret(cfg.github.token_env)
        if token:
            from ci_deploy.notify.github import GitHubNotifier

            notifiers.append(GitHubNotifier(cfg.github, ctx, token, shared()))
        else:
            missing.append(("github", f"{cfg.github.token_env} is not set", cfg.github.required))
    mr = ctx.environ.get("CI_MERGE_REQUEST_IID") and ctx.environ.get("CI_API_V4_URL")
    if cfg.gitlab.merge_request_note and mr and ctx.environ.get("CI_PROJECT_ID"):
        token = secret(cfg.gitlab.token_env)
        if token:
            from ci_deploy.notify.gitlab import GitLabNotifier

            notifiers.append(GitLabNotifier(cfg.gitlab, ctx, token, shared()))
        else:
            missing.append(("gitlab", f"{cfg.gitlab.token_env} is not set", cfg.gitlab.required))
    if cfg.slack is not None:
        slack = cfg.slack
        token = secret(slack.bot_token_env) if slack.bot_token_env else None
        webhook = secret(slack.webhook_url_env) if slack.webhook_url_env else None
        if token or webhook:
            from ci_deploy.notify.slack import SlackNotifier

            notifiers.append(SlackNotifier(slack, ctx, shared(), webhook=webhook, token=token))
        else:
            names = " or ".join(n for n in (slack.webhook_url_env, slack.bot_token_env) if n)
            missing.append(("slack", f"{names} is not set", slack.required))
    if cfg.pagerduty is not None:
        key = secret(cfg.pagerduty.routing_key_env)
        if key:
            from ci_deploy.notify.pagerduty import PagerDutyNotifier

            notifiers.append(PagerDutyNotifier(cfg.pagerduty, ctx, key, shared()))
        else:
            missing.append(
                ("pagerduty", f"{cfg.pagerduty.routing_key_env} is not set", cfg.pagerduty.required)
            )
    for name, what, required in missing:
        if required:
            raise UserInputError(
                f"notifications.{name} is required but {what}",
                hint="set it as a CI secret (masked) for this job, or drop `required: true`",
            )
        platform.warning(f"notifications.{name}: {what}; nothing is posted there")
    return Notifications(notifiers, events, platform)


def clip(text: str, limit: int) -> str:
    """``text`` as one inert line of at most ``limit`` characters (an ellipsis when cut)."""
    line = one_line(text)
    return line if len(line) <= limit else line[: limit - 1] + "…"


def headline(event: RolloutEvent, verb: str) -> str:
    """What happened, in a few words, for a status or a message title."""
    r = event.record
    started = f"{r.strategy} rollout of {r.revision} started"
    if verb == "abort":
        started = f"abort of {r.revision} started"
    elif verb == "rollback":
        started = f"rollback from {r.revision} to {r.previous_revision} started"
    words = {
        "started": started,
        "resumed": f"rollout of {r.revision} continues (promote)",
        "paused": f"paused at step {r.step}: promote or abort",
        "promoted": f"{r.revision} promoted",
        "rolling_back": f"rollout of {r.revision} failed; rolling back",
        "succeeded": f"{r.revision} is live",
        "failed": f"rollout of {r.revision} failed",
        "aborted": f"rollout of {r.revision} aborted",
        "rolled_back": f"rolled back to {r.previous_revision or 'the previous version'}",
        "rollback_failed": "rollback failed: a human must act",
        "step": f"step {r.step}",
        "unchanged": "nothing changed",
        "verified": event.message or "verified",
        "verify_failed": event.message or "verify failed",
    }
    return words.get(event.kind, event.kind)
