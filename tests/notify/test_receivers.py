"""The receivers refuse what GitHub, Slack and PagerDuty refuse and take what they take, over
real HTTP (plain ``requests``), so notifier tests can trust them."""

from __future__ import annotations

import http.client
import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from tests.notify.receivers import (
    GitHubReceiver,
    PagerDutyReceiver,
    SlackReceiver,
    disconnect,
    hang,
    status,
)

SHA = "6dcb09b5b57875f334f61aebed695e2e4193db5e"
DEPLOYMENT = {
    "ref": SHA,
    "environment": "production",
    "auto_merge": False,
    "required_contexts": [],
    "payload": {"app": "web-app", "version": "1.1.0"},
    "description": "ci-deploy: web-app 1.1.0",
}


def gh(
    github: GitHubReceiver,
    method: str,
    path: str,
    body: dict[str, Any] | None = None,
    *,
    auth: str | None = None,
    base: str | None = None,
) -> requests.Response:
    headers = {
        "Authorization": auth or f"Bearer {github.token}",
        "Accept": "application/vnd.github+json",
        "X-GitHub-Api-Version": "2022-11-28",
    }
    url = (base if base is not None else github.api_url) + path
    return requests.request(method, url, json=body, headers=headers, timeout=10)


def deploy(github: GitHubReceiver, **changes: Any) -> requests.Response:
    return gh(github, "POST", "/repos/octo-org/web-app/deployments", {**DEPLOYMENT, **changes})


def post_status(github: GitHubReceiver, deployment_id: object, **body: Any) -> requests.Response:
    path = f"/repos/octo-org/web-app/deployments/{deployment_id}/statuses"
    return gh(github, "POST", path, body)


# -- GitHub ------------------------------------------------------------------------------------


def test_github_creates_a_valid_deployment_with_ids_counting_from_one(
    github: GitHubReceiver,
) -> None:
    first, second = deploy(github), deploy(github, environment="staging")

    assert (first.status_code, second.status_code) == (201, 201)
    created = first.json()
    assert (created["id"], second.json()["id"]) == (1, 2)
    assert created["sha"] == SHA and created["ref"] == SHA and created["task"] == "deploy"
    assert created["payload"] == DEPLOYMENT["payload"]
    assert created["environment"] == "production" and created["production_environment"] is True
    assert (
        created["statuses_url"] == f"{github.api_url}/repos/octo-org/web-app/deployments/1/statuses"
    )
    assert created["creator"]["login"] == "github-actions[bot]"
    assert [d["id"] for d in github.deployments()] == [1, 2]
    assert [c.verdict for c in github.calls] == ["accepted", "accepted"]
    assert github.calls[0].body == DEPLOYMENT


@pytest.mark.parametrize(
    ("change", "field", "says"),
    [
        ({"ref": None}, "ref", "'ref' is a required property"),
        ({"auto_merge": "no"}, "auto_merge", "'no' is not of type 'boolean'"),
        ({"required_contexts": "ci"}, "required_contexts", "'ci' is not of type 'array'"),
    ],
    ids=["missing ref", "auto_merge not a boolean", "required_contexts not an array"],
)
def test_github_refuses_a_deployment_its_spec_refuses(
    github: GitHubReceiver, change: dict[str, Any], field: str, says: str
) -> None:
    body = {k: v for k, v in {**DEPLOYMENT, **change}.items() if v is not None}
    response = gh(github, "POST", "/repos/octo-org/web-app/deployments", body)

    assert response.status_code == 422
    answer = response.json()
    assert answer["message"] == "Validation Failed"
    assert [(e["field"], e["message"]) for e in answer["errors"]] == [(field, says)]
    assert github.deployments() == []
    assert github.calls[0].verdict.startswith("refused: invalid for GitHub's OpenAPI description")


def test_github_records_deployment_statuses_and_lists_them_newest_first(
    github: GitHubReceiver,
) -> None:
    deployment_id = deploy(github).json()["id"]
    log = "https://github.com/octo-org/web-app/actions/runs/1"
    running = post_status(github, deployment_id, state="in_progress", log_url=log)
    done = post_status(
        github, deployment_id, state="success", environment_url="https://web.example"
    )

    assert (running.status_code, done.status_code) == (201, 201)
    assert running.json()["target_url"] == log and running.json()["log_url"] == log
    assert done.json()["environment"] == "production"
    assert github.statuses(deployment_id) == ["in_progress", "success"]
    listed = gh(github, "GET", f"/repos/octo-org/web-app/deployments/{deployment_id}/statuses")
    assert [s["state"] for s in listed.json()] == ["success", "in_progress"]
    fetched = gh(github, "GET", f"/repos/octo-org/web-app/deployments/{deployment_id}")
    assert fetched.status_code == 200 and fetched.json()["id"] == deployment_id


def test_github_refuses_a_status_with_an_unknown_state(github: GitHubReceiver) -> None:
    deployment_id = deploy(github).json()["id"]
    response = post_status(github, deployment_id, state="bogus")

    assert response.status_code == 422
    assert "'bogus' is not one of" in response.json()["errors"][0]["message"]
    assert github.statuses(deployment_id) == []


def test_github_refuses_a_status_description_over_140_characters(github: GitHubReceiver) -> None:
    deployment_id = deploy(github).json()["id"]
    response = post_status(github, deployment_id, state="success", description="x" * 141)

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "description"


def test_github_answers_404_for_an_unknown_or_non_integer_deployment(
    github: GitHubReceiver,
) -> None:
    unknown = post_status(github, 41, state="success")
    not_a_number = post_status(github, "abc", state="success")

    assert unknown.status_code == 404 and unknown.json()["message"] == "Not Found"
    assert not_a_number.status_code == 404
    assert "deployment_id" in github.calls[1].verdict


def test_github_marks_the_replaced_deployment_inactive_as_auto_inactive_does(
    github: GitHubReceiver,
) -> None:
    old = deploy(github, environment="staging").json()["id"]
    post_status(github, old, state="success")
    new = deploy(github, environment="staging").json()["id"]
    post_status(github, new, state="success")

    assert github.statuses(old) == ["success", "inactive"]
    assert github.statuses(new) == ["success"]


def test_github_refuses_a_deployment_while_a_commit_check_is_pending_unless_contexts_are_given(
    github: GitHubReceiver,
) -> None:
    pending = gh(
        github,
        "POST",
        f"/repos/octo-org/web-app/statuses/{SHA}",
        {"state": "pending", "context": "ci-deploy/production", "description": "deploying"},
    )
    without_contexts = {k: v for k, v in DEPLOYMENT.items() if k != "required_contexts"}
    conflict = gh(github, "POST", "/repos/octo-org/web-app/deployments", without_contexts)

    assert pending.status_code == 201 and pending.json()["context"] == "ci-deploy/production"
    assert conflict.status_code == 409
    failing = conflict.json()["errors"][0]["contexts"]
    assert failing == [{"context": "ci-deploy/production", "state": "pending"}]
    assert deploy(github).status_code == 201  # required_contexts: [] skips the check
    assert [s["state"] for s in github.commit_statuses(SHA)] == ["pending"]


def test_github_refuses_a_commit_status_on_something_not_a_sha(github: GitHubReceiver) -> None:
    response = gh(github, "POST", "/repos/octo-org/web-app/statuses/main", {"state": "success"})

    assert response.status_code == 422
    assert response.json()["message"] == "No commit found for SHA: main"


@pytest.mark.parametrize(
    "auth",
    ["Bearer wrong", "token wrong", "Basic Z2hzOng=", ""],
    ids=["bearer", "token", "basic", "none"],
)
def test_github_refuses_anything_but_the_token(github: GitHubReceiver, auth: str) -> None:
    response = requests.post(
        f"{github.api_url}/repos/octo-org/web-app/deployments",
        json=DEPLOYMENT,
        headers={"Authorization": auth} if auth else {},
        timeout=10,
    )

    assert response.status_code == 401
    assert response.json()["message"] in ("Bad credentials", "Requires authentication")
    assert response.json()["status"] == "401"
    assert github.deployments() == []


def test_github_takes_the_token_scheme_as_well_as_bearer(github: GitHubReceiver) -> None:
    assert deploy(github).status_code == 201
    answer = gh(
        github, "GET", "/repos/octo-org/web-app/deployments/1", auth=f"token {github.token}"
    )
    assert answer.status_code == 200


def test_github_refuses_a_request_without_user_agent(github: GitHubReceiver) -> None:
    # requests (urllib3) always sends one: speak HTTP without it
    connection = http.client.HTTPConnection(urlsplit(github.api_url).netloc, timeout=10)
    connection.request(
        "GET",
        "/repos/octo-org/web-app/deployments",
        headers={"Authorization": f"Bearer {github.token}"},
    )
    response = connection.getresponse()

    assert response.status == 403
    assert "User-Agent" in json.loads(response.read())["message"]
    assert "user-agent" not in github.calls[0].headers
    connection.close()


def test_github_enterprise_answers_only_under_its_api_prefix(
    github_enterprise: GitHubReceiver,
) -> None:
    outside = deploy_at(github_enterprise, github_enterprise.origin)
    inside = deploy_at(github_enterprise, github_enterprise.api_url)

    assert github_enterprise.api_url.endswith("/api/v3")
    assert outside.status_code == 404
    assert inside.status_code == 201
    assert inside.json()["url"].startswith(f"{github_enterprise.origin}/api/v3/repos/")


def deploy_at(github: GitHubReceiver, base: str) -> requests.Response:
    return gh(github, "POST", "/repos/octo-org/web-app/deployments", DEPLOYMENT, base=base)


def test_github_refuses_other_repositories_other_operations_and_unknown_paths(
    github: GitHubReceiver,
) -> None:
    other_repo = gh(github, "POST", "/repos/someone/else/deployments", DEPLOYMENT)
    not_implemented = gh(github, "GET", "/repos/octo-org/web-app/issues")
    unknown = gh(github, "GET", "/repos/octo-org/web-app/no-such-thing")
    wrong_method = gh(github, "PUT", "/repos/octo-org/web-app/deployments")

    assert other_repo.status_code == 404
    assert not_implemented.status_code == 501
    assert "not implemented by the receiver" in github.calls[1].verdict
    assert (unknown.status_code, wrong_method.status_code) == (404, 404)


def test_github_refuses_a_body_that_is_not_json(github: GitHubReceiver) -> None:
    response = requests.post(
        f"{github.api_url}/repos/octo-org/web-app/deployments",
        data=b'{"ref": ',
        headers={"Authorization": f"Bearer {github.token}"},
        timeout=10,
    )

    assert response.status_code == 400
    assert response.json()["message"] == "Problems parsing JSON"


def test_github_plays_a_scripted_500_then_answers_normally(github: GitHubReceiver) -> None:
    github.script(status(500))
    failed, retried = deploy(github), deploy(github)

    assert failed.status_code == 500 and "message" in failed.json()
    assert retried.status_code == 201 and retried.json()["id"] == 1
    assert [(c.status, c.fault) for c in github.calls] == [(500, "status(500)"), (201, None)]


def test_github_scripted_401_carries_githubs_body(github: GitHubReceiver) -> None:
    github.script(status(401))
    answer = deploy(github)

    assert answer.status_code == 401 and answer.json()["message"] == "Bad credentials"


def test_github_numbers_concurrent_deployments_uniquely(github: GitHubReceiver) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda _: deploy(github), range(16)))

    assert sorted(a.json()["id"] for a in answers) == list(range(1, 17))
    assert len(github.calls) == 16 and all(c.accepted for c in github.calls)


# -- Slack -------------------------------------------------------------------------------------

HEADER = {"type": "header", "text": {"type": "plain_text", "text": "web-app → production: started"}}
SECTION = {"type": "section", "text": {"type": "mrkdwn", "text": "Canary at *25%*"}}
FIELDS = {
    "type": "section",
    "fields": [
        {"type": "mrkdwn", "text": "*Version*\n1.1.0"},
        {"type": "mrkdwn", "text": "*Previous*\n1.0.0"},
        {"type": "plain_text", "text": "canary"},
    ],
}
CONTEXT = {
    "type": "context",
    "elements": [{"type": "mrkdwn", "text": "<https://ci.example/1|run>"}],
}
MESSAGE = {"text": "web-app → production: started", "blocks": [HEADER, SECTION, FIELDS, CONTEXT]}


def test_slack_webhook_takes_a_valid_block_kit_message(slack: SlackReceiver) -> None:
    response = requests.post(slack.webhook_url, json=MESSAGE, timeout=10)

    assert response.status_code == 200 and response.text == "ok"
    assert response.headers["Content-Type"].startswith("text/html")
    assert slack.webhook_messages == [MESSAGE]
    assert slack.calls[0].accepted


def header(text: str, kind: str = "plain_text") -> dict[str, Any]:
    return {"type": "header", "text": {"type": kind, "text": text}}


def section_fields(*texts: str) -> dict[str, Any]:
    return {"type": "section", "fields": [{"type": "mrkdwn", "text": t} for t in texts]}


@pytest.mark.parametrize(
    "blocks",
    [
        [header("x" * 151)],
        [{"type": "tombola", "text": {"type": "plain_text", "text": "hi"}}],
        [header("hi", kind="mrkdwn")],
        [{**SECTION, "colour": "red"}],
        [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}],
        [section_fields(*["f"] * 11)],
        [section_fields("x" * 2001)],
        [{"type": "section", "text": {"type": "mrkdwn", "text": ""}}],
        [{"type": "section"}],
        [{"type": "context", "elements": [{"type": "mrkdwn", "text": "x"}] * 11}],
        [{"type": "divider"}] * 51,
        [{**SECTION, "block_id": "a"}, {**FIELDS, "block_id": "a"}],
    ],
    ids=[
        "header over 150",
        "unknown block type",
        "mrkdwn header",
        "unknown property",
        "section text over 3000",
        "11 fields",
        "field over 2000",
        "empty text",
        "section without text or fields",
        "11 context elements",
        "51 blocks",
        "duplicate block_id",
    ],
)
def test_slack_webhook_refuses_blocks_slack_refuses(
    slack: SlackReceiver, blocks: list[dict[str, Any]]
) -> None:
    response = requests.post(slack.webhook_url, json={"text": "t", "blocks": blocks}, timeout=10)

    assert (response.status_code, response.text) == (400, "invalid_blocks")
    assert slack.webhook_messages == []
    assert slack.calls[0].verdict.startswith("refused: invalid_blocks: ")


def test_slack_webhook_refuses_no_text_a_bad_payload_and_a_wrong_url(slack: SlackReceiver) -> None:
    empty = requests.post(slack.webhook_url, json={"text": ""}, timeout=10)
    garbage = requests.post(slack.webhook_url, data=b"{not json", timeout=10)
    wrong = requests.post(slack.webhook_url + "x", json=MESSAGE, timeout=10)

    assert (empty.status_code, empty.text) == (400, "no_text")
    assert (garbage.status_code, garbage.text) == (400, "invalid_payload")
    assert (wrong.status_code, wrong.text) == (404, "no_service")
    assert slack.webhook_messages == []


def web_api(
    slack: SlackReceiver, method: str, body: dict[str, Any], token: str | None = None
) -> dict[str, Any]:
    response = requests.post(
        f"{slack.api_url}/{method}",
        json=body,
        headers={"Authorization": f"Bearer {token or slack.bot_token}"},
        timeout=10,
    )
    assert response.status_code == 200  # Slack's Web API answers errors with 200 and ok: false
    answer: dict[str, Any] = response.json()
    return answer


def test_slack_updates_a_posted_message_in_place(slack: SlackReceiver) -> None:
    posted = web_api(slack, "chat.postMessage", {"channel": "#deployments", **MESSAGE})
    succeeded = [header("web-app → production: succeeded"), SECTION]
    updated = web_api(
        slack,
        "chat.update",
        {"channel": posted["channel"], "ts": posted["ts"], "blocks": succeeded},
    )

    assert posted["ok"] is True and posted["channel"] == "C0123456789"
    assert posted["ts"].split(".")[1].isdigit() and posted["message"]["blocks"] == MESSAGE["blocks"]
    assert updated["ok"] is True and updated["ts"] == posted["ts"]
    [message] = slack.messages
    assert (message.ts, message.updates, message.blocks) == (posted["ts"], 1, succeeded)
    assert message.text == MESSAGE["text"]  # an update keeps what it leaves out
    assert message.history == [{"text": MESSAGE["text"], "blocks": MESSAGE["blocks"]}]


def test_slack_gives_each_message_its_own_ts(slack: SlackReceiver) -> None:
    stamps = {
        web_api(slack, "chat.postMessage", {"channel": "C0123456789", "text": "hi"})["ts"]
        for _ in range(3)
    }
    assert len(stamps) == 3 and len(slack.messages) == 3


def test_slack_update_of_an_unknown_ts_is_message_not_found(slack: SlackReceiver) -> None:
    web_api(slack, "chat.postMessage", {"channel": "#deployments", "text": "started"})
    answer = web_api(
        slack, "chat.update", {"channel": "C0123456789", "ts": "1.000001", "text": "x"}
    )

    assert answer == {"ok": False, "error": "message_not_found"}
    assert slack.messages[0].updates == 0


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"channel": "#elsewhere", "text": "hi"}, "channel_not_found"),
        ({"text": "hi"}, "channel_not_found"),
        ({"channel": "#deployments"}, "no_text"),
        ({"channel": "#deployments", "blocks": [header("x" * 151)]}, "invalid_blocks"),
        ({"channel": "#deployments", "text": "x" * 40_001}, "msg_too_long"),
    ],
    ids=["unknown channel", "no channel", "no text", "invalid blocks", "text too long"],
)
def test_slack_post_message_refuses_what_slack_refuses(
    slack: SlackReceiver, body: dict[str, Any], error: str
) -> None:
    answer = web_api(slack, "chat.postMessage", body)

    assert (answer["ok"], answer["error"]) == (False, error)
    assert slack.messages == []


def test_slack_web_api_refuses_a_wrong_or_missing_token(slack: SlackReceiver) -> None:
    wrong = web_api(slack, "chat.postMessage", {"channel": "#deployments", "text": "hi"}, "xoxb-no")
    missing = requests.post(f"{slack.api_url}/chat.postMessage", json={"text": "hi"}, timeout=10)

    assert wrong == {"ok": False, "error": "invalid_auth"}
    assert missing.json() == {"ok": False, "error": "not_authed"}
    assert slack.messages == []


def test_slack_warns_about_json_without_a_charset_as_slack_does(slack: SlackReceiver) -> None:
    answer = web_api(slack, "chat.postMessage", {"channel": "#deployments", "text": "hi"})
    assert answer["ok"] is True
    assert answer["response_metadata"] == {"warnings": ["missing_charset"]}


def test_slack_scripted_429_has_retry_after_then_normal(slack: SlackReceiver) -> None:
    slack.script(status(429))
    limited = requests.post(slack.webhook_url, json=MESSAGE, timeout=10)
    normal = requests.post(slack.webhook_url, json=MESSAGE, timeout=10)

    assert limited.status_code == 429 and limited.headers["Retry-After"] == "1"
    assert (normal.status_code, normal.text) == (200, "ok")
    assert len(slack.webhook_messages) == 1


# -- PagerDuty ---------------------------------------------------------------------------------


def event(pagerduty: PagerDutyReceiver, **fields: Any) -> dict[str, Any]:
    return {"routing_key": pagerduty.routing_key, **fields}


def trigger(pagerduty: PagerDutyReceiver, **fields: Any) -> dict[str, Any]:
    payload = {
        "summary": "web-app rollback failed in production",
        "source": "ci-deploy",
        "severity": "critical",
        "component": "web-app",
        "custom_details": {"phase": "rollback_failed"},
    }
    return event(pagerduty, event_action="trigger", payload=payload, **fields)


def enqueue(pagerduty: PagerDutyReceiver, body: dict[str, Any]) -> requests.Response:
    return requests.post(pagerduty.events_url, json=body, timeout=10)


def test_pagerduty_takes_a_valid_trigger_and_opens_an_incident(
    pagerduty: PagerDutyReceiver,
) -> None:
    response = enqueue(pagerduty, trigger(pagerduty, dedup_key="ci-deploy/web-app/production"))

    assert response.status_code == 202
    assert response.json() == {
        "status": "success",
        "message": "Event processed",
        "dedup_key": "ci-deploy/web-app/production",
    }
    incident = pagerduty.open_incidents()["ci-deploy/web-app/production"]
    assert (incident.status, incident.severity) == ("triggered", "critical")


def test_pagerduty_makes_a_dedup_key_for_a_trigger_without_one(
    pagerduty: PagerDutyReceiver,
) -> None:
    dedup_key = enqueue(pagerduty, trigger(pagerduty)).json()["dedup_key"]
    assert dedup_key and list(pagerduty.open_incidents()) == [dedup_key]


def without_severity(pagerduty: PagerDutyReceiver) -> dict[str, Any]:
    body = trigger(pagerduty)
    del body["payload"]["severity"]
    return body


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (without_severity, "'payload.severity' is missing"),
        (lambda p: event(p, event_action="explode", dedup_key="k"), "'event_action' is invalid"),
        (lambda p: event(p, event_action="resolve"), "'dedup_key' is missing"),
        (lambda p: {**trigger(p), "routing_key": "short"}, "routing_key"),
        (lambda p: {**trigger(p), "routing_key": "X" * 32}, "Invalid routing key"),
        (lambda p: trigger(p, dedup_key="k" * 256), "'dedup_key' must be"),
        (lambda p: event(p, event_action="trigger", payload={"summary": "s"}), "'payload.source'"),
        (lambda p: trigger(p, links=[{"text": "no href"}]), "'links'"),
    ],
    ids=[
        "no severity",
        "bad event_action",
        "resolve without dedup_key",
        "short routing key",
        "other routing key",
        "dedup_key over 255",
        "no source",
        "link without href",
    ],
)
def test_pagerduty_refuses_an_invalid_event(
    pagerduty: PagerDutyReceiver, make: Any, says: str
) -> None:
    response = enqueue(pagerduty, make(pagerduty))

    assert response.status_code == 400
    answer = response.json()
    assert (answer["status"], answer["message"]) == ("invalid event", "Event object is invalid")
    assert any(says in error for error in answer["errors"]), answer["errors"]
    assert pagerduty.incidents == {}


def test_pagerduty_refuses_a_summary_over_1024_characters(pagerduty: PagerDutyReceiver) -> None:
    body = trigger(pagerduty)
    body["payload"]["summary"] = "x" * 1025
    assert enqueue(pagerduty, body).status_code == 400


def test_pagerduty_resolve_closes_the_incident_a_trigger_opened(
    pagerduty: PagerDutyReceiver,
) -> None:
    key = "ci-deploy/web-app/production"
    enqueue(pagerduty, trigger(pagerduty, dedup_key=key))
    enqueue(pagerduty, trigger(pagerduty, dedup_key=key))  # a second failure: the same incident
    resolved = enqueue(pagerduty, event(pagerduty, event_action="resolve", dedup_key=key))

    assert resolved.status_code == 202 and resolved.json()["dedup_key"] == key
    assert pagerduty.open_incidents() == {}
    incident = pagerduty.incidents[key]
    assert incident.status == "resolved" and len(incident.events) == 3


# -- faults, any receiver ----------------------------------------------------------------------


def test_a_hang_delays_one_answer_then_normal_speed_resumes(pagerduty: PagerDutyReceiver) -> None:
    pagerduty.script(hang(0.5))
    started = time.monotonic()
    slow = enqueue(pagerduty, trigger(pagerduty))
    slow_took = time.monotonic() - started
    started = time.monotonic()
    fast = enqueue(pagerduty, trigger(pagerduty))

    assert (slow.status_code, fast.status_code) == (202, 202)
    assert slow_took >= 0.5 and time.monotonic() - started < 0.5
    assert [c.fault for c in pagerduty.calls] == ["hang(0.5)", None]


def test_a_hang_longer_than_the_client_timeout_is_a_timeout(pagerduty: PagerDutyReceiver) -> None:
    pagerduty.script(hang(2))
    with pytest.raises(requests.Timeout):
        requests.post(pagerduty.events_url, json=trigger(pagerduty), timeout=0.3)


def test_a_disconnect_drops_one_connection_then_normal_answers_resume(slack: SlackReceiver) -> None:
    slack.script(disconnect(), status(503))
    with pytest.raises(requests.ConnectionError):
        requests.post(slack.webhook_url, json=MESSAGE, timeout=10)
    unavailable = requests.post(slack.webhook_url, json=MESSAGE, timeout=10)
    normal = requests.post(slack.webhook_url, json=MESSAGE, timeout=10)

    assert (unavailable.status_code, normal.status_code) == (503, 200)
    assert [(c.status, c.fault) for c in slack.calls] == [
        (0, "disconnect()"),
        (503, "status(503)"),
        (200, None),
    ]


def test_a_stopped_receiver_closes_its_keep_alive_connections() -> None:
    with requests.Session() as session, PagerDutyReceiver() as pagerduty:
        body = trigger(pagerduty)
        assert session.post(pagerduty.events_url, json=body, timeout=10).status_code == 202
        pagerduty.stop()
        with pytest.raises(requests.ConnectionError):
            session.post(pagerduty.events_url, json=body, timeout=10)
    assert len(pagerduty.calls) == 1


def test_faults_are_bounded() -> None:
    with pytest.raises(ValueError):
        hang(31)
    with pytest.raises(ValueError):
        status(200)
