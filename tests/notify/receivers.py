"""Loopback receivers that hold our notifiers to the published contracts of GitHub, Slack and
PagerDuty: real HTTP servers on 127.0.0.1 that refuse what the service would refuse.

Each receiver is one threaded ``http.server`` on a free port, started and stopped as a context
manager (``with SlackReceiver() as slack: ...``; the fixtures are in conftest.py). It records
every request as a ``Call`` (``receiver.calls``, in arrival order, with its verdict), keeps what
the service would keep (deployments and statuses, Slack messages, open PagerDuty incidents) and
plays scripted faults, one per request, before answering normally again:
``receiver.script(status(500), hang(2.0), disconnect())``.

One file for the three services (the shared server and fault machinery is half of it); split it
into a package if a fourth service comes.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import hashlib
import itertools
import json
import os
import re
import secrets
import socket
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal, TypeVar
from urllib.parse import parse_qs, quote, urlsplit

ACCEPTED = "accepted"
MAX_HANG_SECONDS = 30.0
JSON_TYPE = "application/json; charset=utf-8"

Json = Any  # a parsed JSON document
_R = TypeVar("_R", bound="Receiver")


# ---------------------------------------------------------------------------------------------
# Requests, answers, recorded calls and faults
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    """An HTTP request as the receiver read it (header names lower-cased)."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    raw: bytes

    @property
    def json(self) -> Json | None:
        """The body parsed as JSON, None when it is empty or not JSON."""
        try:
            return json.loads(self.raw) if self.raw else None
        except ValueError:
            return None

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()


@dataclass(frozen=True)
class Answer:
    """What the receiver sends back, and its verdict on the request."""

    status: int
    body: bytes
    content_type: str = JSON_TYPE
    verdict: str = ACCEPTED
    headers: tuple[tuple[str, str], ...] = ()


def json_answer(
    status: int, doc: Json, verdict: str = ACCEPTED, headers: Iterable[tuple[str, str]] = ()
) -> Answer:
    return Answer(status, json.dumps(doc).encode(), JSON_TYPE, verdict, tuple(headers))


def text_answer(
    status: int, text: str, verdict: str = ACCEPTED, content_type: str = "text/plain"
) -> Answer:
    return Answer(status, text.encode(), f"{content_type}; charset=utf-8", verdict)


@dataclass(frozen=True)
class Call:
    """One request a receiver got, and what it made of it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Json | None
    status: int  # 0: the connection was dropped (a ``disconnect()`` fault)
    verdict: str  # "accepted", or why the request was refused
    fault: str | None = None  # the scripted fault played on it, e.g. "status(500)"

    @property
    def accepted(self) -> bool:
        return self.verdict == ACCEPTED


@dataclass(frozen=True)
class Fault:
    """A scripted misbehaviour, consumed by the next request."""

    kind: Literal["status", "hang", "disconnect"]
    code: int = 0
    body: Json | None = None  # None: the service's own error body for ``code``
    seconds: float = 0.0

    def __str__(self) -> str:
        if self.kind == "status":
            return f"status({self.code})"
        return f"hang({self.seconds:g})" if self.kind == "hang" else "disconnect()"


def status(code: int, body: Json | None = None) -> Fault:
    """Answer the next request with ``code`` (and the service's error body) without acting."""
    if not 400 <= code <= 599:
        raise ValueError(f"status({code}): a fault is an error status, 400-599")
    return Fault("status", code=code, body=body)


def hang(seconds: float) -> Fault:
    """Wait ``seconds`` before handling the next request (normally), as a slow service does."""
    if not 0 < seconds <= MAX_HANG_SECONDS:
        raise ValueError(f"hang({seconds}): between 0 and {MAX_HANG_SECONDS:g} seconds")
    return Fault("hang", seconds=seconds)


def disconnect() -> Fault:
    """Close the connection of the next request without answering."""
    return Fault("disconnect")


# ---------------------------------------------------------------------------------------------
# The server
# ---------------------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    receiver: Receiver

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (a timeout, a hang) is normal; anything else is a problem."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            self.receiver.problems.append(f"serving {client_address}: {traceback.format_exc()}")

    def close_connections(self) -> None:
        """Close the open (keep-alive) connections too: a stopped receiver answers nothing."""
        with self.connections_lock:
            for connection in self.connections:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the real services (and requests' pools) do
    disable_nagle_algorithm = True
    timeout = 30  # an idle keep-alive connection is closed, never held forever
    server: _Server

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_GET

    def _dispatch(self) -> None:
        url = urlsplit(self.path)
        request = Request(
            method=self.command,
            path=url.path,
            query=parse_qs(url.query, keep_blank_values=True),
            headers={name.lower(): value for name, value in self.headers.items()},
            raw=self._read_body(),
        )
        answer = self.server.receiver.serve(request)
        if answer is None:
            self.close_connection = True
            return
        self.send_response(answer.status)
        for name, value in answer.headers:
            self.send_header(name, value)
        self.send_header("Content-Type", answer.content_type)
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(answer.body)

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            self.rfile.readline()
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def setup(self) -> None:
        super().setup()
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        with self.server.connections_lock:
            self.server.connections.discard(self.connection)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: ``receiver.calls`` is the log."""


class Receiver:
    """A loopback HTTP server for one service: records calls, plays faults, answers."""

    service = "receiver"

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._calls: list[Call] = []
        self._faults: deque[Fault] = deque()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.problems: list[str] = []  # the receiver's own failures; the fixtures assert none

    def __enter__(self: _R) -> _R:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> None:
        server = _Server()
        server.receiver = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{self.service}-receiver",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()  # ends a hang() in progress
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def origin(self) -> str:
        if self._server is None:
            raise RuntimeError(f"the {self.service} receiver is not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def calls(self) -> list[Call]:
        """Every request so far, in arrival order."""
        with self._lock:
            return list(self._calls)

    def script(self, *faults: Fault) -> None:
        """Queue faults; each is played on one request, then normal answers resume."""
        with self._lock:
            self._faults.extend(faults)

    def serve(self, request: Request) -> Answer | None:
        """Answer one request (None: drop the connection), recording it."""
        with self._lock:
            fault = self._faults.popleft() if self._faults else None
        if fault is not None and fault.kind == "hang":
            self._stopping.wait(fault.seconds)
        with self._lock:
            if fault is not None and fault.kind == "disconnect":
                answer = None
            elif fault is not None and fault.kind == "status":
                answer = self.fault_answer(request, fault)
                answer = replace(answer, verdict=f"fault: {fault}")
            else:
                answer = self._answer_safely(request)
            self._calls.append(
                Call(
                    method=request.method,
                    path=request.path,
                    query=request.query,
                    headers=request.headers,
                    body=request.json,
                    status=answer.status if answer else 0,
                    verdict=answer.verdict if answer else f"fault: {fault}",
                    fault=str(fault) if fault else None,
                )
            )
            return answer

    def _answer_safely(self, request: Request) -> Answer:
        try:
            return self.answer(request)
        except Exception:
            self.problems.append(f"{request.method} {request.path}: {traceback.format_exc()}")
            return text_answer(500, "receiver error", "receiver error (see receiver.problems)")

    def answer(self, request: Request) -> Answer:
        raise NotImplementedError

    def fault_answer(self, request: Request, fault: Fault) -> Answer:
        """The service's own answer for a scripted error status."""
        raise NotImplementedError


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------------------------------------
# GitHub (REST: deployments, deployment statuses, commit statuses)
# ---------------------------------------------------------------------------------------------

GITHUB_SERVER = "https://api.github.com"  # the spec's server: what openapi-core matches
GITHUB_DOCS = "https://docs.github.com/rest"
GITHUB_MESSAGES = {
    401: "Bad credentials",
    403: "API rate limit exceeded for installation ID 1.",
    404: "Not Found",
    409: "Conflict",
    422: "Validation Failed",
}
_SHA = re.compile(r"[0-9a-f]{40}")
_spec_lock = threading.Lock()
_spec: tuple[Any, Any] | None = None  # (openapi_core.OpenAPI, its path finder), once a session


def github_openapi() -> tuple[Any, Any]:
    """GitHub's OpenAPI description from ``$CI_DEPLOY_GITHUB_OPENAPI``, loaded once a session."""
    global _spec
    with _spec_lock:
        if _spec is None:
            from openapi_core import Config, OpenAPI
            from openapi_core.templating.paths.finders import APICallPathFinder

            path = os.environ.get("CI_DEPLOY_GITHUB_OPENAPI", "")
            if not os.path.isfile(path):
                raise RuntimeError(
                    f"CI_DEPLOY_GITHUB_OPENAPI={path!r} is not a file: run the tests with "
                    "scripts/test (scripts/setup.d/45-github-openapi.sh installs the spec), or "
                    "point it at node_modules/@octokit/openapi/generated/api.github.com.json"
                )
            with open(path, encoding="utf-8") as f:
                document = json.load(f)
            # the spec is GitHub's, published: checking it costs 14 s and tells us nothing
            openapi = OpenAPI.from_dict(document, config=Config(spec_validator_cls=None))
            _spec = (openapi, APICallPathFinder(openapi.spec))
        return _spec


class _SpecRequest:
    """A request in openapi-core's Request protocol, addressed to the spec's server."""

    def __init__(self, request: Request, path: str) -> None:
        from openapi_core.datatypes import RequestParameters
        from werkzeug.datastructures import Headers, ImmutableMultiDict

        self.host_url = GITHUB_SERVER
        self.path = path
        self.method = request.method.lower()
        self.body = request.raw or None
        # GitHub reads the body as JSON whatever the Content-Type (its own curl examples send
        # none), so the spec's only media type is what the validator is told
        self.content_type = "application/json"
        pairs = [(name, value) for name, values in request.query.items() for value in values]
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(pairs),
            header=Headers(request.headers),
            cookie=ImmutableMultiDict(),
            path={},
        )


class _SpecResponse:
    """An answer in openapi-core's Response protocol, to check it against the spec."""

    def __init__(self, answer: Answer) -> None:
        from werkzeug.datastructures import Headers

        self.status_code = answer.status
        self.content_type = "application/json"
        self.headers = Headers(list(answer.headers))
        self.data = answer.body


Operation = Callable[[dict[str, Any], Any, Request], Answer]


class GitHubReceiver(Receiver):
    """GitHub's REST API for one repository: deployments, their statuses, commit statuses.

    Every request is checked as GitHub checks it: the ``prefix`` ("" for api.github.com,
    "/api/v3" for GitHub Enterprise Server), a User-Agent, ``Authorization: Bearer|token
    <token>``, the repository, then GitHub's OpenAPI description (parameters and body). Answers
    follow the spec's response schemas, and are checked against them (``problems``).
    """

    service = "github"

    def __init__(
        self,
        *,
        token: str = "ghs_" + "T" * 36,
        repository: str = "octo-org/web-app",
        prefix: str = "",
        login: str = "github-actions[bot]",
    ) -> None:
        super().__init__()
        if prefix and (not prefix.startswith("/") or prefix.endswith("/")):
            raise ValueError(f"prefix {prefix!r}: '' or like '/api/v3'")
        self.token, self.repository, self.prefix, self.login = token, repository, prefix, login
        self._openapi, self._finder = github_openapi()
        self._deployments: dict[int, dict[str, Any]] = {}
        self._statuses: dict[int, list[dict[str, Any]]] = {}
        self._commit_statuses: list[dict[str, Any]] = []
        self._ids = {kind: itertools.count(1) for kind in ("deployment", "status", "commit")}
        self._operations: dict[str, Operation] = {
            "post /repos/{owner}/{repo}/deployments": self._create_deployment,
            "get /repos/{owner}/{repo}/deployments": self._list_deployments,
            "get /repos/{owner}/{repo}/deployments/{deployment_id}": self._get_deployment,
            "post /repos/{owner}/{repo}/deployments/{deployment_id}/statuses": self._create_status,
            "get /repos/{owner}/{repo}/deployments/{deployment_id}/statuses": self._list_statuses,
            "get /repos/{owner}/{repo}/deployments/{deployment_id}/statuses/{status_id}": (
                self._get_status
            ),
            "post /repos/{owner}/{repo}/statuses/{sha}": self._create_commit_status,
        }

    # -- what the tests read ------------------------------------------------------------------

    @property
    def api_url(self) -> str:
        """The API base URL a notifier is given (``GITHUB_API_URL``)."""
        return self.origin + self.prefix

    def deployments(self) -> list[dict[str, Any]]:
        """The deployments created, oldest first, as GitHub returns them."""
        with self._lock:
            return copy.deepcopy(list(self._deployments.values()))

    def statuses(self, deployment_id: int) -> list[str]:
        """The states posted on a deployment, oldest first (GitHub lists newest first)."""
        return [s["state"] for s in self.deployment_statuses(deployment_id)]

    def deployment_statuses(self, deployment_id: int) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._statuses.get(deployment_id, []))

    def commit_statuses(self, sha: str | None = None) -> list[dict[str, Any]]:
        """The commit statuses posted (on ``sha``), oldest first."""
        with self._lock:
            found = [s for s in self._commit_statuses if sha is None or s["sha"] == sha]
            return copy.deepcopy(found)

    # -- answering ----------------------------------------------------------------------------

    def fault_answer(self, request: Request, fault: Fault) -> Answer:
        headers = [("Retry-After", "1")] if fault.code in (403, 429) else []
        if fault.code == 403:
            headers += [
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", str(int(time.time()))),
            ]
        return json_answer(
            fault.code, fault.body or self._error(fault.code), f"fault: {fault}", headers
        )

    def _error(self, code: int, message: str | None = None, **extra: Any) -> dict[str, Any]:
        message = message or GITHUB_MESSAGES.get(code) or HTTPStatus(code).phrase
        return {"message": message, **extra, "documentation_url": GITHUB_DOCS, "status": str(code)}

    def _refuse(self, code: int, why: str, message: str | None = None, **extra: Any) -> Answer:
        return json_answer(code, self._error(code, message, **extra), f"refused: {why}")

    def answer(self, request: Request) -> Answer:
        prefix = self.prefix
        if not (request.path == prefix or request.path.startswith(prefix + "/")):
            return self._refuse(404, f"outside the API prefix {prefix!r}")
        path = request.path[len(prefix) :] or "/"
        if not request.headers.get("user-agent"):
            return self._refuse(
                403,
                "no User-Agent header",
                "Request forbidden by administrative rules. "
                "Please make sure your request has a User-Agent header",
            )
        refusal = self._check_token(request.headers.get("authorization"))
        if refusal:
            return refusal
        return self._operation(request, path)

    def _check_token(self, header: str | None) -> Answer | None:
        if not header:
            return self._refuse(401, "no Authorization header", "Requires authentication")
        scheme, _, given = header.partition(" ")
        if scheme.lower() not in ("bearer", "token") or given.strip() != self.token:
            return self._refuse(401, "wrong token or Authorization scheme")
        return None

    def _operation(self, request: Request, path: str) -> Answer:
        from openapi_core.templating.paths.exceptions import PathError

        method = request.method.lower()
        try:
            found = self._finder.find(method, GITHUB_SERVER + path)
        except PathError as exc:
            return self._refuse(404, f"not in GitHub's API: {exc}")
        template = found.path_result.pattern
        operation = self._operations.get(f"{method} {template}")
        if operation is None:
            why = f"{method.upper()} {template} is not implemented by the receiver"
            return self._refuse(501, why, "Not Implemented")
        variables = found.path_result.variables
        if f"{variables['owner']}/{variables['repo']}".lower() != self.repository.lower():
            return self._refuse(404, f"no repository {variables['owner']}/{variables['repo']}")
        if request.raw and _loads(request.raw) is None and request.raw.strip() != b"null":
            return self._refuse(400, "the body is not JSON", "Problems parsing JSON")
        spec_request = _SpecRequest(request, path)
        result = self._openapi.unmarshal_request(spec_request)
        if result.errors:
            return self._invalid(result.errors, template)
        answer = operation(result.parameters.path, result.body, request)
        self._check_answer(spec_request, answer, template)
        return answer

    def _invalid(self, errors: list[Exception], template: str) -> Answer:
        from openapi_core.validation.request.exceptions import ParameterValidationError

        for error in errors:
            if isinstance(error, ParameterValidationError) and error.location == "path":
                # GitHub's routes only match numeric ids: /deployments/abc is a 404
                return self._refuse(404, f"{error} ({error.__cause__})")
        resource = _resource(template)
        details = [item for error in errors for item in _error_items(error, resource)]
        why = "; ".join(d["message"] for d in details)
        return self._refuse(422, f"invalid for GitHub's OpenAPI description: {why}", errors=details)

    def _check_answer(self, spec_request: _SpecRequest, answer: Answer, template: str) -> None:
        """Record in ``problems`` an answer that breaks the spec's response schema."""
        from openapi_core.templating.responses.exceptions import ResponseNotFound

        try:
            self._openapi.validate_response(spec_request, _SpecResponse(answer))
        except ResponseNotFound:
            if answer.status < 300:  # GitHub's refusals go beyond what the spec lists
                self.problems.append(f"{template}: the spec has no {answer.status} answer")
        except Exception as exc:
            self.problems.append(f"answer to {template} breaks the spec: {exc.__cause__ or exc}")

    # -- the operations -----------------------------------------------------------------------

    def _repo_url(self) -> str:
        return f"{self.api_url}/repos/{self.repository}"

    def _create_deployment(self, params: dict[str, Any], body: Any, request: Request) -> Answer:
        ref = body["ref"]
        sha = ref if _SHA.fullmatch(ref) else hashlib.sha1(ref.encode()).hexdigest()
        failing = self._failing_contexts(sha, body.get("required_contexts"))
        if failing:
            message = f"Conflict: Commit status checks failed for {ref}."
            errors = [
                {
                    "contexts": failing,
                    "resource": "Deployment",
                    "field": "required_contexts",
                    "code": "invalid",
                }
            ]
            return self._refuse(409, message, message, errors=errors)
        number = next(self._ids["deployment"])
        url, now, environment = (
            f"{self._repo_url()}/deployments/{number}",
            _now(),
            body["environment"],
        )
        deployment = {
            "url": url,
            "id": number,
            "node_id": _node_id("DE", number),
            "sha": sha,
            "ref": ref,
            "task": body["task"],
            "payload": body.get("payload", {}),
            "original_environment": environment,
            "environment": environment,
            "description": body.get("description"),
            "creator": self._creator(),
            "created_at": now,
            "updated_at": now,
            "statuses_url": f"{url}/statuses",
            "repository_url": self._repo_url(),
            "transient_environment": body["transient_environment"],
            "production_environment": body.get(
                "production_environment", environment == "production"
            ),
            "performed_via_github_app": None,
        }
        self._deployments[number] = deployment
        self._statuses[number] = []
        return json_answer(201, deployment, headers=[("Location", url)])

    def _failing_contexts(self, sha: str, required: list[str] | None) -> list[dict[str, str]]:
        """Contexts whose latest commit status is not success (all contexts when not given)."""
        latest = {s["context"]: s["state"] for s in self._commit_statuses if s["sha"] == sha}
        contexts = latest if required is None else required
        return [
            {"context": c, "state": latest.get(c, "missing")}
            for c in contexts
            if latest.get(c) != "success"
        ]

    def _list_deployments(self, params: dict[str, Any], body: Any, request: Request) -> Answer:
        wanted = {
            k: request.query[k][0]
            for k in ("sha", "ref", "task", "environment")
            if k in request.query
        }
        found = [
            d
            for d in reversed(self._deployments.values())
            if all(d[k] == v for k, v in wanted.items())
        ]
        return json_answer(200, _page(found, request))

    def _get_deployment(self, params: dict[str, Any], body: Any, request: Request) -> Answer:
        deployment = self._deployments.get(params["deployment_id"])
        if deployment is None:
            return self._refuse(404, f"no deployment {params['deployment_id']}")
        return json_answer(200, deployment)

    def _create_status(self, params: dict[str, Any], body: Any, request: Request) -> Answer:
        number = params["deployment_id"]
        deployment = self._deployments.get(number)
        if deployment is None:
            return self._refuse(404, f"no deployment {number}")
        if len(body.get("description") or "") > 140:
            return self._too_long("DeploymentStatus")
        previous = self._statuses[number]
        environment = body.get("environment") or (
            previous[-1]["environment"] if previous else deployment["environment"]
        )
        target_url = body.get("log_url") or body.get("target_url") or ""
        created = self._add_status(deployment, body["state"], environment, target_url, body)
        if body["state"] == "success" and body.get("auto_inactive", True):
            self._inactivate_replaced(deployment, environment)
        return json_answer(201, created, headers=[("Location", created["url"])])

    def _add_status(
        self,
        deployment: dict[str, Any],
        state: str,
        environment: str,
        target_url: str,
        body: Mapping[str, Any],
    ) -> dict[str, Any]:
        number, now = next(self._ids["status"]), _now()
        created = {
            "url": f"{deployment['url']}/statuses/{number}",
            "id": number,
            "node_id": _node_id("DES", number),
            "state": state,
            "creator": self._creator(),
            "description": body.get("description", ""),
            "environment": environment,
            "target_url": target_url,
            "created_at": now,
            "updated_at": now,
            "deployment_url": deployment["url"],
            "repository_url": self._repo_url(),
            "environment_url": body.get("environment_url", ""),
            "log_url": target_url,
            "performed_via_github_app": None,
        }
        self._statuses[deployment["id"]].append(created)
        deployment["updated_at"] = now
        return created

    def _inactivate_replaced(self, current: dict[str, Any], environment: str) -> None:
        """GitHub's ``auto_inactive``: earlier successful deployments there become inactive
        (only non-transient, non-production ones)."""
        for other in self._deployments.values():
            history = self._statuses[other["id"]]
            if (
                other["id"] != current["id"]
                and other["environment"] == environment
                and not other["transient_environment"]
                and not other["production_environment"]
                and history
                and history[-1]["state"] == "success"
            ):
                self._add_status(other, "inactive", environment, "", {})

    def _list_statuses(self, params: dict[str, Any], body: Any, request: Request) -> Answer:
        number = params["deployment_id"]
        if number not in self._deployments:
            return self._refuse(404, f"no deployment {number}")
        return json_answer(200, _page(list(reversed(self._statuses[number])), request))

    def _get_status(self, params: dict[str, Any], body: Any, request: Request) -> Answer:
        statuses = self._statuses.get(params["deployment_id"], [])
        found = [s for s in statuses if s["id"] == params["status_id"]]
        if not found:
            return self._refuse(404, f"no status {params['status_id']}")
        return json_answer(200, found[0])

    def _create_commit_status(self, params: dict[str, Any], body: Any, request: Request) -> Answer:
        sha = params["sha"]
        if not _SHA.fullmatch(sha):
            return self._refuse(422, f"not a commit SHA: {sha}", f"No commit found for SHA: {sha}")
        if len(body.get("description") or "") > 140:
            return self._too_long("Status")
        number, now = next(self._ids["commit"]), _now()
        created = {
            "url": f"{self._repo_url()}/statuses/{sha}",
            "avatar_url": None,
            "id": number,
            "node_id": _node_id("SC", number),
            "state": body["state"],
            "description": body.get("description"),
            "target_url": body.get("target_url"),
            "context": body["context"],
            "created_at": now,
            "updated_at": now,
            "creator": self._creator(),
        }
        self._commit_statuses.append({**created, "sha": sha})
        return json_answer(201, created, headers=[("Location", created["url"])])

    def _too_long(self, resource: str) -> Answer:
        message = "description is too long (maximum is 140 characters)"
        item = {"resource": resource, "code": "custom", "field": "description", "message": message}
        return self._refuse(422, message, errors=[item])

    def _creator(self) -> dict[str, Any]:
        user = f"{self.api_url}/users/{quote(self.login)}"
        return {
            "login": self.login,
            "id": 41898282,
            "node_id": "MDM6Qm90NDE4OTgyODI=",
            "avatar_url": "https://avatars.githubusercontent.com/in/15368?v=4",
            "gravatar_id": "",
            "url": user,
            "html_url": "https://github.com/apps/github-actions",
            "followers_url": f"{user}/followers",
            "following_url": f"{user}/following{{/other_user}}",
            "gists_url": f"{user}/gists{{/gist_id}}",
            "starred_url": f"{user}/starred{{/owner}}{{/repo}}",
            "subscriptions_url": f"{user}/subscriptions",
            "organizations_url": f"{user}/orgs",
            "repos_url": f"{user}/repos",
            "events_url": f"{user}/events{{/privacy}}",
            "received_events_url": f"{user}/received_events",
            "type": "Bot",
            "site_admin": False,
        }


def _node_id(kind: str, number: int) -> str:
    return f"{kind}_" + base64.urlsafe_b64encode(f"{kind}:{number}".encode()).decode().rstrip("=")


def _page(items: list[dict[str, Any]], request: Request) -> list[dict[str, Any]]:
    per_page = min(int(request.query.get("per_page", ["30"])[0]), 100)
    page = max(int(request.query.get("page", ["1"])[0]), 1)
    return items[(page - 1) * per_page : page * per_page]


def _resource(template: str) -> str:
    if template.endswith("/deployments"):
        return "Deployment"
    return "DeploymentStatus" if "/deployments/" in template else "Status"


def _error_items(error: Exception, resource: str) -> list[dict[str, Any]]:
    """GitHub-shaped ``errors`` items for one openapi-core validation error."""
    schema_errors = getattr(error.__cause__, "schema_errors", None) or ()
    items = []
    for schema_error in schema_errors:
        path = ".".join(str(p) for p in schema_error.path)
        if schema_error.validator == "required":
            field_name = ".".join([path, *re.findall(r"'([^']+)'", schema_error.message)[:1]])
            code = "missing_field"
        else:
            field_name, code = path, "invalid"
        item = {"resource": resource, "code": code, "field": field_name.strip(".")}
        items.append({**item, "message": schema_error.message})
    if not items:
        cause = f": {error.__cause__}" if error.__cause__ else ""
        items.append({"resource": resource, "code": "invalid", "message": f"{error}{cause}"})
    return items


# ---------------------------------------------------------------------------------------------
# Slack (incoming webhooks, Web API chat.postMessage / chat.update)
# ---------------------------------------------------------------------------------------------

MAX_BLOCKS = 50
HEADER_TEXT_MAX = 150
SECTION_TEXT_MAX = 3000
SECTION_FIELDS_MAX = 10
FIELD_TEXT_MAX = 2000
CONTEXT_ELEMENTS_MAX = 10
MESSAGE_TEXT_MAX = 40_000
_TEXT_KEYS = {"plain_text": {"type", "text", "emoji"}, "mrkdwn": {"type", "text", "verbatim"}}


def block_kit_errors(blocks: object) -> list[str]:
    """What Slack says about a message's ``blocks`` ([] when it takes them), checked with
    slack_sdk's Block Kit models plus the documented limits the models leave out."""
    if not isinstance(blocks, list):
        return ["must be an array [json-pointer:/blocks]"]
    if len(blocks) > MAX_BLOCKS:
        return [f"no more than {MAX_BLOCKS} items allowed [json-pointer:/blocks]"]
    errors: list[str] = []
    block_ids: set[str] = set()
    for i, raw in enumerate(blocks):
        errors += _block_errors(raw, f"/blocks/{i}")
        block_id = raw.get("block_id") if isinstance(raw, dict) else None
        if block_id is not None and block_id in block_ids:
            errors.append(f"duplicate block_id {block_id!r} [json-pointer:/blocks/{i}/block_id]")
        if isinstance(block_id, str):
            block_ids.add(block_id)
    return errors


def _block_errors(raw: object, at: str) -> list[str]:
    from slack_sdk.errors import SlackObjectFormationError
    from slack_sdk.models.blocks import Block

    if not isinstance(raw, dict):
        return [f"must be an object [json-pointer:{at}]"]
    try:
        block = Block.parse(copy.deepcopy(raw))
        if block is None:  # slack_sdk only logs a warning and skips an unknown type
            return [f"unsupported block type {raw.get('type')!r} [json-pointer:{at}/type]"]
        block.validate_json()
        block.to_dict()  # validates nested objects too
    except SlackObjectFormationError as exc:
        return [f"{exc} [json-pointer:{at}]"]
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        return [f"invalid block: {exc} [json-pointer:{at}]"]
    # slack_sdk ignores keys it does not know; Slack refuses them
    errors = [
        f"invalid additional property: {k} [json-pointer:{at}]"
        for k in raw
        if k not in block.attributes
    ]
    if raw["type"] == "header":
        errors += _text_errors(raw.get("text"), f"{at}/text", HEADER_TEXT_MAX, ("plain_text",))
    elif raw["type"] == "section":
        errors += _section_errors(raw, at)
    elif raw["type"] == "context":
        errors += _context_errors(raw.get("elements"), f"{at}/elements")
    return errors


def _section_errors(raw: dict[str, Any], at: str) -> list[str]:
    errors = []
    if "text" in raw:
        errors += _text_errors(raw["text"], f"{at}/text", SECTION_TEXT_MAX)
    fields = raw.get("fields", [])
    if not isinstance(fields, list) or len(fields) > SECTION_FIELDS_MAX:
        return [
            *errors,
            f"must be an array of at most {SECTION_FIELDS_MAX} [json-pointer:{at}/fields]",
        ]
    for i, item in enumerate(fields):
        errors += _text_errors(item, f"{at}/fields/{i}", FIELD_TEXT_MAX)
    return errors


def _context_errors(elements: object, at: str) -> list[str]:
    if not isinstance(elements, list) or not 1 <= len(elements) <= CONTEXT_ELEMENTS_MAX:
        return [f"must be an array of 1 to {CONTEXT_ELEMENTS_MAX} elements [json-pointer:{at}]"]
    errors = []
    for i, element in enumerate(elements):
        where = f"{at}/{i}"
        if isinstance(element, dict) and element.get("type") == "image":
            if not element.get("alt_text") or not (
                element.get("image_url") or element.get("slack_file")
            ):
                errors.append(f"an image needs image_url and alt_text [json-pointer:{where}]")
        else:
            errors += _text_errors(element, where, None)
    return errors


def _text_errors(
    obj: object, at: str, max_length: int | None, kinds: tuple[str, ...] = ("plain_text", "mrkdwn")
) -> list[str]:
    if not isinstance(obj, dict):
        return [f"must be a text object [json-pointer:{at}]"]
    kind = obj.get("type")
    if kind not in kinds:
        return [f"must be one of {list(kinds)}, not {kind!r} [json-pointer:{at}/type]"]
    errors = [
        f"invalid additional property: {k} [json-pointer:{at}]"
        for k in obj
        if k not in _TEXT_KEYS[kind]
    ]
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        errors.append(f"must be more than 0 characters [json-pointer:{at}/text]")
    elif max_length is not None and len(text) > max_length:
        errors.append(f"must be less than {max_length + 1} characters [json-pointer:{at}/text]")
    return errors


@dataclass
class SlackMessage:
    """A message posted through the Web API, as it stands now."""

    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    updates: int = 0  # how many chat.update calls changed it
    history: list[dict[str, Any]] = field(default_factory=list)  # earlier {text, blocks}


class SlackReceiver(Receiver):
    """Slack: an incoming webhook (``webhook_url``) and the Web API (``api_url``) methods
    chat.postMessage and chat.update for a bot token. Refusals are Slack's own: HTTP 400 and a
    plain-text code for webhooks, HTTP 200 ``{"ok": false, "error": ...}`` for the Web API."""

    service = "slack"

    def __init__(
        self,
        *,
        bot_token: str = "xoxb-1111111111-2222222222222-" + "t" * 24,
        team: str = "T0123456789",
        channels: Mapping[str, str] | None = None,
        webhook_secret: str | None = None,
    ) -> None:
        super().__init__()
        self.bot_token, self.team = bot_token, team
        self.channels = dict(channels or {"#deployments": "C0123456789"})  # name -> id
        secret = webhook_secret or "".join(secrets.choice("abcdefXYZ0123456789") for _ in range(24))
        self.webhook_path = f"/services/{team}/B0123456789/{secret}"
        self._messages: list[SlackMessage] = []
        self._webhook_messages: list[dict[str, Any]] = []
        self._ts = (f"{int(time.time())}.{n:06d}" for n in itertools.count(100, 100))

    @property
    def webhook_url(self) -> str:
        return self.origin + self.webhook_path

    @property
    def api_url(self) -> str:
        """The Web API base: a method is ``{api_url}/chat.postMessage``."""
        return self.origin + "/api"

    @property
    def messages(self) -> list[SlackMessage]:
        """The Web API messages, as they stand after every update."""
        with self._lock:
            return copy.deepcopy(self._messages)

    @property
    def webhook_messages(self) -> list[dict[str, Any]]:
        """The bodies the webhook accepted, in order."""
        with self._lock:
            return copy.deepcopy(self._webhook_messages)

    def fault_answer(self, request: Request, fault: Fault) -> Answer:
        headers = (("Retry-After", "1"),) if fault.code == 429 else ()
        if not request.path.startswith("/api/"):
            codes = {
                400: "invalid_payload",
                403: "invalid_token",
                404: "no_service",
                410: "channel_is_archived",
            }
            text = fault.body or codes.get(
                fault.code, "rate_limited" if fault.code == 429 else "rollup_error"
            )
            page = text_answer(fault.code, str(text), content_type="text/html")
            return Answer(page.status, page.body, page.content_type, headers=headers)
        error = {401: "invalid_auth", 429: "ratelimited"}.get(fault.code, "internal_error")
        return json_answer(fault.code, fault.body or {"ok": False, "error": error}, headers=headers)

    def answer(self, request: Request) -> Answer:
        if request.path.startswith("/services/"):
            return self._webhook(request)
        if request.path.startswith("/api/"):
            return self._web_api(request)
        return text_answer(404, "Not Found", "refused: no such URL", "text/html")

    # -- incoming webhook ---------------------------------------------------------------------

    def _webhook(self, request: Request) -> Answer:
        def refuse(code: int, error: str, why: str) -> Answer:
            return text_answer(code, error, f"refused: {error}: {why}", "text/html")

        if request.path != self.webhook_path:
            return refuse(404, "no_service", "no webhook at this URL")
        if request.method != "POST":
            return refuse(405, "invalid_method", f"{request.method} on a webhook")
        doc = request.json
        if request.content_type == "application/x-www-form-urlencoded":
            form = parse_qs(request.raw.decode(errors="replace"))
            doc = _loads(form.get("payload", [""])[0])
        if not isinstance(doc, dict):
            return refuse(400, "invalid_payload", "the body is not a JSON object")
        if "blocks" in doc and not isinstance(doc["blocks"], list):
            return refuse(400, "invalid_blocks_format", "blocks is not an array")
        refusal = _content_error(doc)
        if refusal:
            return refuse(400, refusal[0], refusal[1])
        self._webhook_messages.append(doc)
        return text_answer(200, "ok", content_type="text/html")

    # -- Web API ------------------------------------------------------------------------------

    def _web_api(self, request: Request) -> Answer:
        method = request.path.removeprefix("/api/")
        handlers = {"chat.postMessage": self._post_message, "chat.update": self._update}
        if method not in handlers:
            return json_answer(
                404, {"ok": False, "error": "unknown_method"}, f"refused: no method {method}"
            )
        if request.method != "POST":
            return _slack_error("invalid_request", f"{request.method} on {method}", status=405)
        args, token, warnings = self._arguments(request)
        if args is None:
            return _slack_error("invalid_json", "the body is not a JSON object")
        if not token:
            return _slack_error("not_authed", "no token")
        if token != self.bot_token:
            return _slack_error("invalid_auth", "wrong token")
        answer = handlers[method](args)
        if warnings and answer.verdict == ACCEPTED:
            doc = json.loads(answer.body)
            doc.update(warning=",".join(warnings), response_metadata={"warnings": warnings})
            answer = json_answer(answer.status, doc)
        return answer

    def _arguments(self, request: Request) -> tuple[dict[str, Any] | None, str, list[str]]:
        """The method's arguments, the token and Slack's warnings (JSON or form body)."""
        header = request.headers.get("authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else ""
        if request.content_type == "application/json":
            doc = request.json
            charset = "charset=" in request.headers.get("content-type", "").lower()
            return (
                (doc if isinstance(doc, dict) else None),
                token,
                [] if charset else ["missing_charset"],
            )
        # anything else Slack reads as a form, where the token may be an argument
        form: dict[str, Any] = {
            k: v[0] for k, v in parse_qs(request.raw.decode(errors="replace")).items()
        }
        if isinstance(form.get("blocks"), str):
            form["blocks"] = _loads(form["blocks"])
        return form, token or form.pop("token", ""), []

    def _channel(self, args: Mapping[str, Any]) -> str | None:
        given = str(args.get("channel") or "")
        if given in self.channels.values():
            return given
        return self.channels.get(given) or self.channels.get(f"#{given}")

    def _post_message(self, args: dict[str, Any]) -> Answer:
        channel = self._channel(args)
        if channel is None:
            return _slack_error("channel_not_found", f"channel {args.get('channel')!r}")
        refusal = _content_error(args) or _text_too_long(args)
        if refusal:
            return _slack_error(*refusal, errors=block_kit_errors(args.get("blocks", [])))
        message = SlackMessage(
            channel, next(self._ts), args.get("text", ""), args.get("blocks", [])
        )
        self._messages.append(message)
        return json_answer(
            200, {"ok": True, "channel": channel, "ts": message.ts, "message": self._shown(message)}
        )

    def _update(self, args: dict[str, Any]) -> Answer:
        channel = self._channel(args)
        if channel is None:
            return _slack_error("channel_not_found", f"channel {args.get('channel')!r}")
        found = [m for m in self._messages if m.channel == channel and m.ts == args.get("ts")]
        if not found:
            return _slack_error(
                "message_not_found", f"no message ts={args.get('ts')!r} in {channel}"
            )
        refusal = _content_error(args) or _text_too_long(args)
        if refusal:
            return _slack_error(*refusal, errors=block_kit_errors(args.get("blocks", [])))
        message = found[0]
        message.history.append({"text": message.text, "blocks": message.blocks})
        # Slack keeps what an update leaves out (blocks: [] removes them)
        message.text = args.get("text", message.text)
        message.blocks = args.get("blocks", message.blocks)
        message.updates += 1
        shown = self._shown(message)
        return json_answer(
            200,
            {
                "ok": True,
                "channel": channel,
                "ts": message.ts,
                "text": message.text,
                "message": shown,
            },
        )

    def _shown(self, message: SlackMessage) -> dict[str, Any]:
        return {
            "type": "message",
            "subtype": "bot_message",
            "text": message.text,
            "ts": message.ts,
            "username": "ci-deploy",
            "bot_id": "B0BOT000001",
            "app_id": "A0APP000001",
            "team": self.team,
            "blocks": message.blocks,
        }


def _loads(text: str | bytes) -> Json | None:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _content_error(doc: Mapping[str, Any]) -> tuple[str, str] | None:
    """Slack's error code for a message without content or with blocks it refuses."""
    text, blocks, attachments = doc.get("text"), doc.get("blocks"), doc.get("attachments")
    if text is not None and not isinstance(text, str):
        return "invalid_payload", "text is not a string"
    if not (text or blocks or attachments):
        return "no_text", "neither text nor blocks"
    if attachments is not None and not (
        isinstance(attachments, list) and all(isinstance(a, dict) for a in attachments)
    ):
        return "invalid_attachments", "attachments is not an array of objects"
    errors = block_kit_errors(blocks) if blocks is not None else []
    return ("invalid_blocks", "; ".join(errors)) if errors else None


def _text_too_long(doc: Mapping[str, Any]) -> tuple[str, str] | None:
    if len(doc.get("text") or "") > MESSAGE_TEXT_MAX:
        return "msg_too_long", f"text over {MESSAGE_TEXT_MAX} characters"
    return None


def _slack_error(
    error: str, why: str, *, status: int = 200, errors: list[str] | None = None
) -> Answer:
    doc: dict[str, Any] = {"ok": False, "error": error}
    if errors:
        doc["errors"] = errors
        doc["response_metadata"] = {"messages": [f"[ERROR] {e}" for e in errors]}
    return json_answer(status, doc, f"refused: {error}: {why}")


# ---------------------------------------------------------------------------------------------
# PagerDuty (Events API v2)
# ---------------------------------------------------------------------------------------------

EVENT_ACTIONS = ("trigger", "acknowledge", "resolve")
SEVERITIES = ("critical", "error", "warning", "info")
SUMMARY_MAX = 1024
DEDUP_KEY_MAX = 255
EVENT_SIZE_MAX = 512 * 1024
_PAYLOAD_KEYS = {
    "summary",
    "source",
    "severity",
    "timestamp",
    "component",
    "group",
    "class",
    "custom_details",
}
_EVENT_KEYS = {
    "routing_key",
    "event_action",
    "dedup_key",
    "payload",
    "client",
    "client_url",
    "links",
    "images",
}


@dataclass
class Incident:
    """What PagerDuty keeps for a dedup key."""

    dedup_key: str
    status: Literal["triggered", "acknowledged", "resolved"]
    summary: str
    severity: str
    events: list[dict[str, Any]] = field(default_factory=list)  # every event for the key


class PagerDutyReceiver(Receiver):
    """PagerDuty's Events API v2 (``events_url``) for one integration's routing key."""

    service = "pagerduty"

    def __init__(self, *, routing_key: str = "R0UT1NGKEY0000000000000000000000") -> None:
        super().__init__()
        if len(routing_key) != 32:
            raise ValueError("a PagerDuty routing key is 32 characters")
        self.routing_key = routing_key
        self._incidents: dict[str, Incident] = {}

    @property
    def events_url(self) -> str:
        return self.origin + "/v2/enqueue"

    @property
    def incidents(self) -> dict[str, Incident]:
        """Every incident by dedup key, resolved ones included."""
        with self._lock:
            return copy.deepcopy(self._incidents)

    def open_incidents(self) -> dict[str, Incident]:
        """The incidents triggered (or acknowledged) and not resolved, by dedup key."""
        return {k: i for k, i in self.incidents.items() if i.status != "resolved"}

    def fault_answer(self, request: Request, fault: Fault) -> Answer:
        if fault.code == 400:
            doc = {"status": "invalid event", "message": "Event object is invalid", "errors": []}
        elif fault.code == 429:
            doc = {"status": "throttle event", "message": "Too many requests"}
        else:
            doc = {"status": "error", "message": HTTPStatus(fault.code).phrase}
        return json_answer(fault.code, fault.body or doc)

    def answer(self, request: Request) -> Answer:
        if request.path != "/v2/enqueue":
            return json_answer(
                404, {"status": "error", "message": "Not Found"}, "refused: no such URL"
            )
        if request.method != "POST":
            return json_answer(
                405, {"status": "error", "message": "Method Not Allowed"}, "refused: not POST"
            )
        event = request.json
        if not isinstance(event, dict):
            return _invalid_event(["Event object must be valid JSON"])
        errors = self._errors(event)
        if len(request.raw) > EVENT_SIZE_MAX:
            errors.append(f"Event object is over {EVENT_SIZE_MAX} bytes")
        if errors:
            return _invalid_event(errors)
        dedup_key = event.get("dedup_key") or secrets.token_hex(16)
        self._record(event, dedup_key)
        return json_answer(
            202, {"status": "success", "message": "Event processed", "dedup_key": dedup_key}
        )

    def _errors(self, event: dict[str, Any]) -> list[str]:
        errors = [f"'{k}' is not a known field" for k in event if k not in _EVENT_KEYS]
        key = event.get("routing_key")
        if not isinstance(key, str) or len(key) != 32:
            errors.append("Length of 'routing_key' is incorrect (should be 32 characters)")
        elif key != self.routing_key:
            errors.append("Invalid routing key")
        action = event.get("event_action")
        if action not in EVENT_ACTIONS:
            errors.append(
                "'event_action' is invalid (must be one of the following: "
                "'trigger', 'acknowledge' or 'resolve')"
            )
        dedup_key = event.get("dedup_key")
        if dedup_key is not None and (
            not isinstance(dedup_key, str) or len(dedup_key) > DEDUP_KEY_MAX
        ):
            errors.append(f"'dedup_key' must be a string of at most {DEDUP_KEY_MAX} characters")
        if action in ("acknowledge", "resolve") and not dedup_key:
            errors.append(f"'dedup_key' is missing or blank (required to {action})")
        if action == "trigger":
            errors += _payload_errors(event.get("payload"))
        errors += _links_errors(event)
        return errors

    def _record(self, event: dict[str, Any], dedup_key: str) -> None:
        action, incident = event["event_action"], self._incidents.get(dedup_key)
        if action == "trigger":
            payload = event["payload"]
            if incident is None or incident.status == "resolved":
                incident = Incident(dedup_key, "triggered", payload["summary"], payload["severity"])
                self._incidents[dedup_key] = incident
        elif incident is not None and incident.status != "resolved":
            incident.status = "resolved" if action == "resolve" else "acknowledged"
        if incident is not None:
            incident.events.append(event)


def _invalid_event(errors: list[str]) -> Answer:
    doc = {"status": "invalid event", "message": "Event object is invalid", "errors": errors}
    return json_answer(400, doc, "refused: " + "; ".join(errors))


def _payload_errors(payload: object) -> list[str]:
    if not isinstance(payload, dict):
        return ["'payload' is missing or not an object"]
    errors = [f"'payload.{k}' is not a known field" for k in payload if k not in _PAYLOAD_KEYS]
    for name in ("summary", "source", "severity"):
        if not isinstance(payload.get(name), str) or not payload[name].strip():
            errors.append(f"'payload.{name}' is missing or blank")
    if len(str(payload.get("summary", ""))) > SUMMARY_MAX:
        errors.append(f"'payload.summary' is longer than {SUMMARY_MAX} characters")
    if payload.get("severity") and payload["severity"] not in SEVERITIES:
        errors.append(
            "'payload.severity' is invalid (must be one of the following: "
            "'critical', 'warning', 'error' or 'info')"
        )
    if "timestamp" in payload and not _is_iso8601(payload["timestamp"]):
        errors.append("'payload.timestamp' is not an ISO 8601 date-time")
    for name in ("component", "group", "class"):
        if name in payload and not isinstance(payload[name], str):
            errors.append(f"'payload.{name}' must be a string")
    if "custom_details" in payload and not isinstance(payload["custom_details"], dict):
        errors.append("'payload.custom_details' must be an object")
    return errors


def _links_errors(event: Mapping[str, Any]) -> list[str]:
    errors = []
    for name, needed in (("links", "href"), ("images", "src")):
        items = event.get(name, [])
        if not isinstance(items, list) or not all(
            isinstance(i, dict) and isinstance(i.get(needed), str) for i in items
        ):
            errors.append(f"'{name}' must be an array of objects with '{needed}'")
    return errors


def _is_iso8601(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True
