"""Notifiers end to end: the real ``ci-deploy`` CLI on the sandbox posting to loopback receivers
that enforce GitHub's OpenAPI description, Slack's Block Kit and PagerDuty's Events v2 rules.

A full canary posts its deployment statuses in order; a rollback posts ``failure`` twice (as
it starts, with the result); an abort marks the deployment ``inactive``; GitHub Enterprise's
``/api/v3`` is honoured; a 500 is retried, a 401 is a warning naming the notifier, a receiver
that hangs costs its timeout and changes nothing else; ``required: true`` stops a deploy before
it changes anything. No planted secret shows in any log, output or summary.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.commands.test_canary import (
    APP,
    CONFIG,
    GATED,
    IMAGE,
    Cluster,
    ok,
    said,
)
from tests.notify.gitlab_receiver import GitLabReceiver
from tests.notify.receivers import (
    GitHubReceiver,
    PagerDutyReceiver,
    SlackReceiver,
    hang,
    status,
)

from ci_deploy.config.model import NotificationsConfig, PagerDutyConfig
from ci_deploy.kube.client import connect
from ci_deploy.kube.state import StateRecord
from ci_deploy.lifecycle import Events
from ci_deploy.notify import Context, Notifications, http_client
from ci_deploy.notify.pagerduty import PagerDutyNotifier
from ci_deploy.platforms import Redactor, platform_named
from kube_sandbox.testing import running_sandbox

SHA = "3f786850e387550fdab836ed7e6dc881de23001b"
NOTIFY = """\
notifications:
  github:
    commit_status: true
  slack:
    webhook_url_env: SLACK_WEBHOOK
  timeout: {timeout}
  retries: {retries}
"""


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    with running_sandbox(tmp_path, pod_ready_delay=0.05) as sb:
        client = connect(str(sb.kubeconfig))
        try:
            yield Cluster(sb, tmp_path, tmp_path / "ci-deploy.yml", client)
        finally:
            client.close()


def configure(
    cluster: Cluster, stages: str = GATED, *, timeout: str = "5s", retries: int = 3
) -> None:
    text = CONFIG.format(router="gateway-api", stages=stages)
    cluster.config.write_text(text + NOTIFY.format(timeout=timeout, retries=retries))


def env_for(github: GitHubReceiver, slack: SlackReceiver) -> dict[str, str]:
    return {
        "GITHUB_REPOSITORY": github.repository,
        "GITHUB_SHA": SHA,
        "GITHUB_API_URL": github.api_url,
        "GITHUB_SERVER_URL": "https://github.example",
        "GITHUB_RUN_ID": "4242",
        "GITHUB_TOKEN": github.token,
        "SLACK_WEBHOOK": slack.webhook_url,
    }


def calls_of(github: GitHubReceiver) -> list[str]:
    return [f"{c.method} {c.path} {(c.body or {}).get('state', '')}".strip() for c in github.calls]


def no_secret_in(texts: list[str], *secrets: str) -> None:
    for text in texts:
        for secret in secrets:
            assert secret not in text


def test_a_full_canary_posts_its_deployment_statuses_in_order(
    cluster: Cluster, github: GitHubReceiver, slack: SlackReceiver
) -> None:
    env = env_for(github, slack)
    configure(cluster)
    ok(cluster.deploy("1", **env))
    ok(cluster.deploy("2", **env))  # paused at stage one
    ok(cluster.run("promote", "--env", "production", "--full", **env))
    assert all(c.accepted for c in github.calls), [c.verdict for c in github.calls]
    first, second = (d["id"] for d in github.deployments())
    assert github.statuses(first) == ["in_progress", "success", "inactive"]
    assert github.statuses(second) == ["in_progress", "in_progress", "in_progress", "success"]
    deployment = github.deployments()[1]
    assert deployment["ref"] == SHA and deployment["environment"] == "production"
    assert deployment["payload"]["ci-deploy"]["revision"] == f"{IMAGE}:2"
    # promote, in its own process, found the deployment in the cluster's record
    assert cluster.record().status_ids["github-deployment"] == str(second)
    done = github.deployment_statuses(second)[-1]
    assert done["log_url"] == "https://github.example/octo-org/web-app/actions/runs/4242"
    states = [s["state"] for s in github.commit_statuses(SHA)]
    assert states.count("success") == 2 and "pending" in states
    assert slack.webhook_messages and all(c.accepted for c in slack.calls)
    print("\n".join(calls_of(github)))  # the sequence, for the note (pytest -s)


def test_a_rollback_posts_failure_then_the_result_and_an_abort_inactive(
    cluster: Cluster, github: GitHubReceiver, slack: SlackReceiver
) -> None:
    env = env_for(github, slack)
    configure(
        cluster,
        "    - {name: one, traffic_percentage: 10, duration: 30s}\n"
        "    - {name: all, traffic_percentage: 100}\n",
    )
    ok(cluster.deploy("1", **env))
    failed = cluster.deploy("2-degrades", **env)
    ok(failed, 1)
    rolled = github.deployments()[1]["id"]
    assert github.statuses(rolled) == ["in_progress", "failure", "failure"]
    newest = github.deployment_statuses(rolled)[-1]
    assert "rolled back" in newest["description"]
    configure(cluster)
    ok(cluster.deploy("3", **env))  # paused
    ok(cluster.run("abort", "--env", "production", **env))
    aborted = github.deployments()[2]["id"]
    assert github.statuses(aborted) == ["in_progress", "in_progress", "in_progress", "inactive"]
    assert all(c.accepted for c in github.calls)


def test_github_enterprise_api_url_is_honoured(
    cluster: Cluster, github_enterprise: GitHubReceiver, slack: SlackReceiver
) -> None:
    env = env_for(github_enterprise, slack)
    configure(cluster)
    ok(cluster.deploy("1", **env))
    assert all(c.path.startswith("/api/v3/") for c in github_enterprise.calls)
    assert github_enterprise.statuses(github_enterprise.deployments()[0]["id"]) == [
        "in_progress",
        "success",
    ]


def test_faults_are_retried_or_warned_and_never_change_the_deploy(
    cluster: Cluster, github: GitHubReceiver, slack: SlackReceiver
) -> None:
    env = {**env_for(github, slack), "CI_DEPLOY_SUMMARY": str(cluster.tmp / "summary.md")}
    configure(cluster, timeout="1s", retries=2)
    github.script(status(500))  # the create: retried
    first = cluster.deploy("1", **env)
    ok(first)
    assert [c.status for c in github.calls[:2]] == [500, 201]
    assert github.statuses(github.deployments()[0]["id"]) == ["in_progress", "success"]
    # a token GitHub refuses: warnings naming the notifier; the deploy goes on, exit 0
    refused = cluster.deploy("2", **{**env, "GITHUB_TOKEN": "ghs_" + "x" * 36})
    ok(refused)
    assert "notification failed (started): github: could not create a deployment" in said(refused)
    assert "GitHub answered 401 Bad credentials" in said(refused)
    assert refused.outputs["phase"] == "Paused"  # type: ignore[attr-defined]
    # a Slack that hangs: its timeout, then a warning; the abort is done all the same
    slack.script(hang(5), hang(5), hang(5))
    aborted = cluster.run("abort", "--env", "production", **env)
    ok(aborted)
    assert "notification failed (started): slack: the webhook did not answer" in said(aborted)
    assert cluster.record().phase == "Aborted"
    summary = (cluster.tmp / "summary.md").read_text()
    assert "Notifications that failed" in summary and "github: could not create" in summary
    record = cluster.deployment()
    assert record is not None
    written = [summary, str(record["metadata"]["annotations"])]
    for run in (first, refused, aborted):
        written += [run.stdout, run.stderr, *run.outputs.values()]  # type: ignore[attr-defined]
    no_secret_in(written, github.token, "ghs_" + "x" * 36, slack.webhook_url.rsplit("/", 1)[1])


def test_a_required_notifier_that_fails_at_the_start_changes_nothing(
    cluster: Cluster, github: GitHubReceiver, slack: SlackReceiver
) -> None:
    env = env_for(github, slack)
    configure(cluster)
    ok(cluster.deploy("1", **env))
    text = cluster.config.read_text().replace("    commit_status: true\n", "    required: true\n")
    cluster.config.write_text(text)
    before = cluster.deployment()
    github.script(status(403))
    stopped = cluster.deploy("2", **env)
    ok(stopped, 4)
    assert "the required notifier github" in said(stopped)
    after = cluster.deployment()
    assert before is not None and after is not None
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert cluster.get(f"/apis/apps/v1/namespaces/shop/deployments/{APP}-canary") is None
    missing = cluster.deploy("2", **{**env, "GITHUB_TOKEN": ""})
    ok(missing, 2)
    assert "notifications.github is required but GITHUB_TOKEN is not set" in said(missing)


def test_pagerduty_pages_on_a_failed_rollback_and_the_next_success_resolves_it(
    pagerduty: PagerDutyReceiver,
) -> None:
    redactor = Redactor()
    platform = platform_named("local", {}, redactor=redactor)
    ctx = Context("deploy", "web-app", "production", None, "https://ci.example/run/7", os.environ)
    notifier = PagerDutyNotifier(
        PagerDutyConfig("PD_KEY", events_url=pagerduty.events_url),
        ctx,
        pagerduty.routing_key,
        http_client(NotificationsConfig()),
    )
    events = Events()
    events.subscribe(Notifications([notifier], events, platform))
    record = StateRecord(
        "web-app",
        "production",
        "canary",
        "Failed",
        f"{IMAGE}:2",
        f"{IMAGE}:1",
        message="rollback failed: 403 on deployments/web-app",
    )
    events.emit("rollback_failed", record)
    incident = pagerduty.open_incidents()["ci-deploy/web-app/production"]
    assert incident.severity == "critical" and "rollback of web-app" in incident.summary
    assert events.status_ids(record)["pagerduty-incident"] == "ci-deploy/web-app/production"
    later = StateRecord(
        "web-app",
        "production",
        "canary",
        "Succeeded",
        f"{IMAGE}:3",
        f"{IMAGE}:1",
        status_ids=events.status_ids(record),
    )
    events.emit("succeeded", later)
    assert pagerduty.open_incidents() == {}
    assert all(c.accepted for c in pagerduty.calls) and len(pagerduty.calls) == 2


def test_a_slack_bot_keeps_one_message_per_rollout_updated_across_jobs(
    cluster: Cluster, github: GitHubReceiver, slack: SlackReceiver
) -> None:
    env = {**env_for(github, slack), "SLACK_BOT_TOKEN": slack.bot_token}
    configure(cluster)
    text = cluster.config.read_text().replace(
        "    webhook_url_env: SLACK_WEBHOOK\n",
        f"    bot_token_env: SLACK_BOT_TOKEN\n    channel: '#deployments'\n"
        f"    api_url: {slack.api_url}\n",
    )
    cluster.config.write_text(text)
    runs = [cluster.deploy("1", **env), cluster.deploy("2", **env)]  # 2: paused, a new message
    runs.append(cluster.run("promote", "--env", "production", "--full", **env))  # another job
    for run in runs:
        ok(run)
        no_secret_in([run.stdout, run.stderr, *run.outputs.values()], slack.bot_token)  # type: ignore[attr-defined]
    assert all(c.accepted for c in slack.calls), [c.verdict for c in slack.calls]
    first, second = slack.messages  # one per rollout
    assert f"{IMAGE}:1" in str(first.blocks) and f"{IMAGE}:2" not in str(first.blocks)
    assert second.channel == "C0123456789" and second.updates >= 2
    assert "Succeeded" in second.text and f"{IMAGE}:2" in str(second.blocks)
    assert cluster.record().status_ids["slack-ts"] == second.ts
    assert slack.webhook_messages == []


def test_a_merge_request_note_per_rollout_edited_by_later_jobs(cluster: Cluster) -> None:
    with GitLabReceiver() as gitlab:
        env = {
            "GITLAB_CI": "true",
            "CI_API_V4_URL": gitlab.api_url,
            "CI_PROJECT_ID": gitlab.project,
            "CI_MERGE_REQUEST_IID": gitlab.mr_iid,
            "CI_JOB_URL": "https://gitlab.example/acme/shop/-/jobs/99",
            "GITLAB_TOKEN": gitlab.token,
        }
        configure(cluster)
        text = cluster.config.read_text().replace(
            "  github:\n    commit_status: true\n",
            "  gitlab:\n    merge_request_note: true\n",
        )
        cluster.config.write_text(
            text.replace("  slack:\n    webhook_url_env: SLACK_WEBHOOK\n", "")
        )
        runs = [cluster.deploy("1", **env), cluster.deploy("2", **env)]
        runs.append(cluster.run("promote", "--env", "production", "--full", **env))
        for run in runs:
            ok(run)
            no_secret_in([said(run)], gitlab.token)
        assert all(c.accepted for c in gitlab.calls), [c.verdict for c in gitlab.calls]
        first, second = gitlab.notes
        assert "shop to production: Succeeded" in first["body"] and ":1`" in first["body"]
        assert "Succeeded" in second["body"] and f"`{IMAGE}:2`" in second["body"]
        assert gitlab.edits[second["id"]] >= 2  # paused, resumed, succeeded: the same note
        assert "https://gitlab.example/acme/shop/-/jobs/99" in second["body"]
        assert not any(line.startswith("/") for line in second["body"].splitlines())
        assert cluster.record().status_ids["gitlab-note"] == str(second["id"])


def test_the_gitlab_receiver_refuses_what_gitlab_refuses() -> None:
    import requests

    with GitLabReceiver() as gitlab:
        notes = f"{gitlab.api_url}/projects/42/merge_requests/7/notes"
        good = {"PRIVATE-TOKEN": gitlab.token}
        assert requests.post(notes, json={"body": "hi"}, headers=good, timeout=5).status_code == 201
        assert requests.post(notes, json={}, headers=good, timeout=5).status_code == 400
        wrong = {"PRIVATE-TOKEN": "glpat-wrong"}
        assert (
            requests.post(notes, json={"body": "hi"}, headers=wrong, timeout=5).status_code == 401
        )
        other = notes.replace("/7/", "/8/")
        assert requests.post(other, json={"body": "hi"}, headers=good, timeout=5).status_code == 404
        edit = requests.put(f"{notes}/9", json={"body": "x"}, headers=good, timeout=5)
        assert edit.status_code == 404
        assert [c.accepted for c in gitlab.calls] == [True, False, False, False, False]


def test_verify_posts_to_the_rollouts_deployment_and_slack_thread(
    cluster: Cluster, github: GitHubReceiver, slack: SlackReceiver
) -> None:
    env = {**env_for(github, slack), "SLACK_BOT_TOKEN": slack.bot_token}
    configure(cluster, "    - {name: all, traffic_percentage: 100}\n")
    text = cluster.config.read_text().replace(
        "    webhook_url_env: SLACK_WEBHOOK\n",
        f"    bot_token_env: SLACK_BOT_TOKEN\n    channel: '#deployments'\n"
        f"    api_url: {slack.api_url}\n",
    )
    smoke = (cluster.tmp / "smoke.py").resolve()
    smoke.write_text("import sys\nsys.exit(int(open(sys.argv[1]).read()))\n")
    verdict = cluster.tmp / "verdict"
    verdict.write_text("0")
    text += (
        "analysis:\n  smoke:\n    - name: smoke\n"
        f"      command: {sys.executable} {smoke} {verdict}\n"
    )
    cluster.config.write_text(text)
    ok(cluster.deploy("1", **env))
    deployment = github.deployments()[0]["id"]
    ok(cluster.run("verify", "--env", "production", **env))
    verdict.write_text("1")
    failed = cluster.run("verify", "--env", "production", **env)
    ok(failed, 1)
    assert all(c.accepted for c in github.calls + slack.calls)
    assert github.statuses(deployment)[-2:] == ["success", "failure"]
    contexts = [s["context"] for s in github.commit_statuses(SHA)]
    assert contexts.count("ci-deploy/verify/production") == 2
    posts = [c for c in slack.calls if c.path.endswith("chat.postMessage")]
    rollout_ts = cluster.record().status_ids["slack-ts"]
    assert [(c.body or {}).get("thread_ts") for c in posts[1:]] == [rollout_ts, rollout_ts]
    assert "verify failed" in str((posts[-1].body or {}).get("blocks"))
