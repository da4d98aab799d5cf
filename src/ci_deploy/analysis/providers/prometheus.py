"""Prometheus: instant and range queries over its HTTP API (``/api/v1/query``, ``…/query_range``).

Authentication comes from environment variables named in ``ci-deploy.yml`` (a bearer
token, basic auth, custom headers such as ``X-Scope-OrgID``), never from the file; their
values are sent, never printed. Transport retries (5xx, 429, no answer) are the project's
HTTP client's. What Prometheus answers is read strictly:

- an empty vector, or NaN, is **no data** (``value`` None) — never 0, never a pass;
- more than one series is an **error**: a rule compares one number, so the query must
  aggregate (``sum``, ``max``) — silently taking the first series would judge a random pod;
- an error status (bad query, 4xx, 5xx after retries, refused credentials) is an **error**
  saying what Prometheus said.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ci_deploy.analysis.model import Measurement
from ci_deploy.httpclient import HttpClient, HttpError, HttpOptions, safe_url
from ci_deploy.text import one_line

Obj = dict[str, Any]


@dataclass(frozen=True)
class PrometheusSettings:
    """Where Prometheus is and how to authenticate: env var *names*, never their values."""

    address: str
    bearer_token_env: str | None = None
    username_env: str | None = None
    password_env: str | None = None
    headers_env: Mapping[str, str] = field(default_factory=dict)
    ca_file: str | None = None
    insecure: bool = False
    timeout: float = 10.0
    retries: int = 2

    def to_dict(self) -> Obj:
        return {
            "address": self.address,
            "bearerTokenEnv": self.bearer_token_env,
            "usernameEnv": self.username_env,
            "passwordEnv": self.password_env,
            "headersEnv": dict(self.headers_env),
            "caFile": self.ca_file,
            "insecure": self.insecure,
            "timeout": self.timeout,
            "retries": self.retries,
        }

    @classmethod
    def from_dict(cls, doc: Obj) -> PrometheusSettings:
        return cls(
            address=str(doc["address"]),
            bearer_token_env=doc.get("bearerTokenEnv"),
            username_env=doc.get("usernameEnv"),
            password_env=doc.get("passwordEnv"),
            headers_env={str(k): str(v) for k, v in (doc.get("headersEnv") or {}).items()},
            ca_file=doc.get("caFile"),
            insecure=bool(doc.get("insecure", False)),
            timeout=float(doc.get("timeout", 10.0)),
            retries=int(doc.get("retries", 2)),
        )


@dataclass(frozen=True)
class PromQuery:
    """One instant query (at ``time``, or now)."""

    expr: str
    time: float | None = None


class MissingCredential(Exception):
    """An environment variable named for a credential is not set."""


def options_for(settings: PrometheusSettings, env: Mapping[str, str]) -> HttpOptions:
    """The HTTP options: credentials read from ``env`` by the names in ``settings``."""

    def read(name: str, what: str) -> str:
        value = env.get(name)
        if not value:
            raise MissingCredential(
                f"the environment variable {name} ({what} for Prometheus) is not set"
            )
        return value

    headers = {h: read(v, f"header {h}") for h, v in settings.headers_env.items()}
    if settings.bearer_token_env:
        headers["Authorization"] = "Bearer " + read(settings.bearer_token_env, "bearer token")
    basic = None
    if settings.username_env and settings.password_env:
        basic = (
            read(settings.username_env, "user name"),
            read(settings.password_env, "password"),
        )
    verify: bool | str = settings.ca_file or True
    if settings.insecure:
        verify = False
    return HttpOptions(
        timeout=settings.timeout,
        retries=settings.retries,
        verify=verify,
        headers=headers,
        basic_auth=basic,
    )


class PrometheusProvider:
    """Prometheus behind the ``Provider`` protocol (probe: a ``PromQuery``)."""

    name = "prometheus"

    def __init__(
        self,
        settings: PrometheusSettings,
        env: Mapping[str, str] | None = None,
        client: HttpClient | None = None,
    ) -> None:
        self.settings = settings
        self._env = os.environ if env is None else env
        self._client = client
        self._setup_error = ""

    def _http(self) -> HttpClient | None:
        if self._client is None and not self._setup_error:
            try:
                self._client = HttpClient(options_for(self.settings, self._env))
            except MissingCredential as exc:
                self._setup_error = str(exc)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    @property
    def where(self) -> str:
        return safe_url(self.settings.address)

    def measure(self, probe: PromQuery) -> Measurement:
        form = {"query": probe.expr}
        if probe.time is not None:
            form["time"] = f"{probe.time:.3f}"
        data, error = self._call("/api/v1/query", form)
        if error:
            return Measurement(None, error=error)
        return _instant_value(data)

    def series(
        self, expr: str, start: float, end: float, step: float
    ) -> tuple[list[tuple[float, float]], str]:
        """A range query's one series as (time, value) points, NaN dropped; or an error."""
        form = {
            "query": expr,
            "start": f"{start:.3f}",
            "end": f"{end:.3f}",
            "step": f"{max(step, 0.001):.3f}",
        }
        data, error = self._call("/api/v1/query_range", form)
        if error:
            return [], error
        result = data.get("result") or []
        if len(result) > 1:
            return [], _many(len(result))
        points: list[tuple[float, float]] = []
        for pair in result[0].get("values") or [] if result else []:
            value = _number(pair[1])
            if value is not None:
                points.append((float(pair[0]), value))
        return points, ""

    def _call(self, path: str, form: dict[str, str]) -> tuple[Obj, str]:
        """POST a query (long PromQL does not fit a URL); the ``data`` or an error line."""
        client = self._http()
        if client is None:
            return {}, self._setup_error
        url = self.settings.address.rstrip("/") + path
        try:
            response = client.request("POST", url, data=form)
        except HttpError as exc:
            return {}, f"Prometheus at {exc.message}"
        if response.status_code in (401, 403):
            return {}, (
                f"Prometheus at {self.where} refused the credentials (HTTP"
                f" {response.status_code}): check bearer_token_env / username_env / headers_env"
            )
        try:
            body = response.json()
        except ValueError:
            return {}, (
                f"Prometheus at {self.where} answered HTTP {response.status_code} with a body"
                " that is not JSON (is the address a Prometheus?)"
            )
        if not isinstance(body, dict) or body.get("status") != "success":
            what = body.get("error") if isinstance(body, dict) else None
            kind = body.get("errorType") if isinstance(body, dict) else None
            said = one_line(str(what))[:300] if what else f"HTTP {response.status_code}"
            return {}, f"Prometheus at {self.where}: {kind + ': ' if kind else ''}{said}"
        data = body.get("data")
        return (data if isinstance(data, dict) else {}), ""


def _number(text: Any) -> float | None:
    """A sample value; None for NaN (no data). ±Inf stays: a rule judges it."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(value) else value


def _many(count: int) -> str:
    return (
        f"the query returned {count} series; a rule compares one number, so aggregate it"
        " (sum(...), max(...))"
    )


def _instant_value(data: Obj) -> Measurement:
    kind = data.get("resultType")
    result = data.get("result")
    if kind == "scalar" and isinstance(result, list) and len(result) == 2:
        value = _number(result[1])
        return Measurement(value, samples=1, detail=() if value is not None else ("NaN",))
    if kind != "vector" or not isinstance(result, list):
        return Measurement(None, error=f"unexpected result type {one_line(str(kind))}")
    if not result:
        return Measurement(None, samples=0, detail=("empty result",))
    if len(result) > 1:
        return Measurement(None, samples=len(result), error=_many(len(result)))
    value = _number((result[0].get("value") or [None, None])[1])
    return Measurement(value, samples=1, detail=() if value is not None else ("NaN",))
