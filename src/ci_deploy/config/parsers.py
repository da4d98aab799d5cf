"""Parsers for the scalar values and free keys of ``ci-deploy.yml``, and cross-field rules.

Each parser takes a raw YAML value and returns the typed value or raises InvalidValue with an
"expected X, found Y" message; the schema walker adds the location.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ci_deploy.config import model
from ci_deploy.config.schema import INVALID, Context
from ci_deploy.config.values import (
    InvalidValue,
    describe,
    format_number,
    parse_percentage,
    parse_threshold,
)
from ci_deploy.yamlfile import KeyPath

# --- scalar parsers ----------------------------------------------------------------------

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
ENV_VAR = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
SERVICE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
HELM_VALUE_PATH = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\[\]-]*", re.ASCII)
LABEL_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]*", re.ASCII)
_IMAGE_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", re.ASCII)
_URL = re.compile(r"^https?://[^\s/]+\S*$")
_REPOSITORY = re.compile(r"^[a-z0-9]+([._-][a-z0-9]+)*(:\d+)?(/[a-z0-9]+([._-][a-z0-9]+)*)*$")
LOG_LEVELS = ("trace", "debug", "info", "warn", "warning", "error", "fatal", "critical")
TRAFFIC_ROUTERS = ("replicas", "gateway-api", "nginx-ingress")


def p_string(value: Any) -> str:
    """A non-empty string."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidValue(f"expected a non-empty string, found {describe(value)}")
    return value


def dns_label(what: str) -> Callable[[Any], str]:
    """A DNS-1123 label (lowercase letters, digits, '-', at most 63 characters)."""

    def parse(value: Any) -> str:
        if not isinstance(value, str) or not _DNS_LABEL.fullmatch(value) or len(value) > 63:
            raise InvalidValue(
                f"expected {what}: a DNS-1123 label (lowercase letters, digits and '-',"
                f" starting and ending with a letter or digit, at most 63 characters),"
                f" found {describe(value)}"
            )
        return value

    return parse


def p_dns_subdomain(value: Any) -> str:
    """A DNS-1123 subdomain such as ``app.example.com`` (Kubernetes object names, hosts)."""
    if not isinstance(value, str) or not _DNS_SUBDOMAIN.fullmatch(value) or len(value) > 253:
        raise InvalidValue(
            f"expected a DNS name (lowercase letters, digits, '-' and '.'), found {describe(value)}"
        )
    return value


def integer(low: int, high: int | None = None) -> Callable[[Any], int]:
    """An integer in [low, high]; booleans and quoted numbers are type errors."""
    bounds = f"from {low} to {high}" if high is not None else f"of at least {low}"

    def parse(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            hint = "; remove the quotes" if isinstance(value, str) and value.isdigit() else ""
            raise InvalidValue(f"expected an integer {bounds}, found {describe(value)}{hint}")
        if value < low or (high is not None and value > high):
            raise InvalidValue(f"expected an integer {bounds}, found {describe(value)}")
        return value

    return parse


def p_bool(value: Any) -> bool:
    """true or false (unquoted)."""
    if not isinstance(value, bool):
        raise InvalidValue(f"expected true or false, found {describe(value)}")
    return value


def choice(options: tuple[str, ...]) -> Callable[[Any], str]:
    """One of ``options``."""

    def parse(value: Any) -> str:
        if value not in options or not isinstance(value, str):
            listed = ", ".join(options)
            raise InvalidValue(f"expected one of {listed}, found {describe(value)}")
        return value

    return parse


def p_url(value: Any) -> str:
    """An http(s) URL."""
    if not isinstance(value, str) or not _URL.fullmatch(value):
        raise InvalidValue(f"expected an http:// or https:// URL, found {describe(value)}")
    return value


def p_env_var_ref(value: Any) -> str:
    """The name of an environment variable that holds a secret (never the secret itself)."""
    if isinstance(value, str) and (value.startswith(("http://", "https://")) or "://" in value):
        raise InvalidValue(
            "expected the name of an environment variable holding the secret (e.g."
            " SLACK_WEBHOOK), found a literal URL; secrets never go in the configuration:"
            " store it as a CI secret and name its variable here"
        )
    if not isinstance(value, str) or not ENV_VAR.fullmatch(value):
        # the value is not echoed: people paste the secret itself here
        found = (
            f"a string of {len(value)} characters (not shown: it may be a secret)"
            if isinstance(value, str)
            else describe(value)
        )
        raise InvalidValue(
            "expected the name of an environment variable holding the secret (letters, digits"
            f" and '_', e.g. SLACK_WEBHOOK), found {found}"
        )
    return value


def p_env_value(value: Any) -> str:
    """A container environment variable value: a string; numbers are converted."""
    if isinstance(value, bool):
        word = "true" if value else "false"
        raise InvalidValue(f'expected a string, found {describe(value)}; quote it: "{word}"')
    if isinstance(value, (int, float)):
        return format_number(float(value)) if isinstance(value, float) else str(value)
    if not isinstance(value, str):
        raise InvalidValue(f"expected a string, found {describe(value)}")
    return value


def p_surge(value: Any) -> int | str:
    """A replica count or a percentage string (``1``, ``"25%"``), as Kubernetes takes them."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and value.endswith("%"):
        number = parse_percentage(value)
        return f"{format_number(number)}%"
    raise InvalidValue(
        f'expected a number of pods (0, 1, …) or a percentage such as "25%", found'
        f" {describe(value)}"
    )


def p_repository(value: Any) -> str:
    """An image repository without tag or digest (the tag comes with each deploy)."""
    if isinstance(value, str) and ("@" in value or ":" in value.rsplit("/", 1)[-1]):
        raise InvalidValue(
            f"expected an image repository without tag or digest (the tag is given with each"
            f" deploy, e.g. --image), found {describe(value)}"
        )
    if not isinstance(value, str) or not _REPOSITORY.fullmatch(value):
        raise InvalidValue(
            "expected an image repository such as registry.example.com/team/app (lowercase),"
            f" found {describe(value)}"
        )
    return value


def p_image_tag(value: Any) -> str:
    """An image tag (letters, digits, '_', '.', '-'; at most 128 characters)."""
    if not isinstance(value, str) or not _IMAGE_TAG.fullmatch(value):
        raise InvalidValue(
            f"expected an image tag such as latest or 1.4.0 (letters, digits, '_', '.', '-';"
            f" at most 128), found {describe(value)}"
        )
    return value


def p_severities(value: Any) -> tuple[str, ...]:
    """Trivy severities: a list, or comma-separated text (``HIGH, CRITICAL``), any case."""
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
        raise InvalidValue(f"expected a list of severities, found {describe(value)}")
    names = [i.strip().upper() for i in items if i.strip()]
    unknown = [n for n in names if n not in model.SEVERITY_LEVELS]
    if unknown or not names:
        listed = ", ".join(model.SEVERITY_LEVELS)
        found = ", ".join(unknown) if unknown else "nothing"
        raise InvalidValue(f"expected severities among {listed}, found {found}")
    return tuple(dict.fromkeys(names))


def p_http_path(value: Any) -> str:
    """A URL path starting with '/'."""
    if not isinstance(value, str) or not value.startswith("/") or " " in value:
        raise InvalidValue(f"expected a URL path starting with '/', found {describe(value)}")
    return value


def p_steps(value: Any) -> tuple[str, ...]:
    """A list of steps, or the seed's numbered text (``1. "…" 2. "…"``), split into steps."""
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    if isinstance(value, str):
        parts = [p.strip().strip('"').strip() for p in re.split(r"(?:^|\s)\d+\.\s+", value)]
        return tuple(p for p in parts if p)
    raise InvalidValue(f"expected a list of strings, found {describe(value)}")


# --- key checks (for mappings with free keys) ---------------------------------------------


def key_pattern(pattern: re.Pattern[str], what: str) -> Callable[[str], None]:
    """Check a free key against ``pattern``."""

    def check(key: str) -> None:
        if not pattern.fullmatch(key):
            raise InvalidValue(f"expected {what}, found {describe(key)}")

    return check


def key_dns_label(key: str) -> None:
    """Environment names must be usable in Kubernetes names (namespace, labels)."""
    dns_label("an environment name")(key)


# --- cross-field rules --------------------------------------------------------------------


def stages_rule(stages: Any, raw: Any, path: KeyPath, ctx: Context) -> None:
    """Names unique; traffic strictly increasing; the last stage at 100%."""
    seen: dict[str, int] = {}
    previous: model.CanaryStage | None = None
    for i, stage in enumerate(stages):
        if stage.name in seen:
            ctx.error(
                (*path, i, "name"),
                f"expected a unique stage name, found '{stage.name}', already used by"
                f" stages[{seen[stage.name]}]",
            )
        seen.setdefault(stage.name, i)
        if previous is not None and stage.traffic_percentage <= previous.traffic_percentage:
            ctx.error(
                (*path, i, "traffic_percentage"),
                f"expected more than {format_number(previous.traffic_percentage)} (stages must"
                f" increase traffic; previous stage '{previous.name}'), found"
                f" {format_number(stage.traffic_percentage)}",
            )
        previous = stage
    if previous is not None and previous.traffic_percentage != 100:
        ctx.error(
            (*path, len(stages) - 1, "traffic_percentage"),
            "expected the last stage to send 100% of traffic, found"
            f" {format_number(previous.traffic_percentage)}",
        )


def hpa_rule(values: Any, raw: Any, path: KeyPath, ctx: Context) -> None:
    if values["max_replicas"] < values["min_replicas"]:
        ctx.error(
            (*path, "max_replicas"),
            f"expected at least min_replicas ({values['min_replicas']}), found"
            f" {values['max_replicas']}",
        )


@dataclass(frozen=True)
class TriggerList:
    """``rollback_triggers``: a list of one-key mappings ``- metric: "> 0.5%"`` or
    ``- manual_trigger: true`` (the seed's shape)."""

    type_name: str = "list of `metric: threshold` or `manual_trigger: true|false`"

    def check(self, value: Any, path: KeyPath, ctx: Context) -> Any:
        if not isinstance(value, list):
            ctx.error(path, f"expected a {self.type_name}, found {describe(value)}")
            return INVALID
        out: list[model.Trigger] = []
        ok = True
        for i, item in enumerate(value):
            if not isinstance(item, dict) or not item:
                ctx.error(
                    (*path, i),
                    f"expected a mapping such as 'error_rate: \"> 0.5%\"', found {describe(item)}",
                )
                ok = False
                continue
            for key, raw in item.items():
                trigger = self._one(str(key), raw, (*path, i, key), ctx)
                if trigger is INVALID:
                    ok = False
                elif trigger is not None:
                    out.append(trigger)
        return tuple(out) if ok else INVALID

    def _one(self, key: str, raw: Any, path: KeyPath, ctx: Context) -> Any:
        if key == "manual_trigger":
            try:
                manual = p_bool(raw)
            except InvalidValue as exc:
                ctx.error(path, exc.message)
                return INVALID
            return model.Trigger(metric=key, manual=True) if manual else None
        if not IDENTIFIER.fullmatch(key):
            ctx.error(
                path,
                f"expected a metric name (letters, digits, '_'), found {describe(key)}",
                key=True,
            )
            return INVALID
        try:
            return model.Trigger(metric=key, threshold=parse_threshold(raw))
        except InvalidValue as exc:
            ctx.error(path, exc.message)
            return INVALID


# --- analysis --------------------------------------------------------------------------------

HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")  # an RFC 9110 token
HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
METRIC_UNITS = ("percent", "ratio", "seconds", "milliseconds", "number")
NO_DATA_POLICIES = ("inconclusive", "fail", "pass")
# Metrics ci-deploy has a query for (ci_deploy.analysis.queries); others need analysis.queries.
BUILTIN_METRICS = ("error_rate", "response_time_p95", "cpu_usage", "memory_usage", "request_count")
# What a query template may use: the rest is an undefined variable (a typo, caught here).
QUERY_VARIABLES = frozenset({"app", "namespace", "environment", "track", "color", "window"})


def p_identifier(value: Any) -> str:
    """A metric name: letters, digits, '_'."""
    if not isinstance(value, str) or not IDENTIFIER.fullmatch(value):
        raise InvalidValue(
            f"expected a metric name (letters, digits, '_'), found {describe(value)}"
        )
    return value


def p_probability(value: Any) -> float:
    """A number strictly between 0 and 1."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
        raise InvalidValue(f"expected a number between 0 and 1, found {describe(value)}")
    return float(value)


def p_regex(value: Any) -> str:
    """A regular expression (Python syntax)."""
    if not isinstance(value, str):
        raise InvalidValue(f"expected a regular expression, found {describe(value)}")
    try:
        re.compile(value)
    except re.error as exc:
        raise InvalidValue(
            f"expected a regular expression, found {describe(value)}: {exc}"
        ) from None
    return value


def p_statuses(value: Any) -> tuple[int, ...]:
    """An HTTP status code (``200``) or a list of them (``[200, 204]``)."""
    items = value if isinstance(value, list) else [value]
    out: list[int] = []
    for item in items:
        if isinstance(item, bool) or not isinstance(item, int) or not 100 <= item <= 599:
            raise InvalidValue(
                f"expected an HTTP status code (100–599) or a list of them, found {describe(value)}"
            )
        out.append(item)
    if not out:
        raise InvalidValue("expected at least one HTTP status code, found an empty list")
    return tuple(out)


def queries_rule(queries: Any, raw: Any, path: KeyPath, ctx: Context) -> None:
    """Every query template parses, and uses only the variables a query gets."""
    for name, query in queries.items():
        if query.query is None:
            if name not in BUILTIN_METRICS:
                ctx.error(
                    (*path, name),
                    f"expected a 'query' for '{name}', which has no built-in query (built-in:"
                    f" {', '.join(BUILTIN_METRICS)})",
                )
            continue
        problem = template_problem(query.query, QUERY_VARIABLES)
        if problem:
            key = (*path, name, "query") if isinstance(raw.get(name), dict) else (*path, name)
            ctx.error(key, problem)


def template_problem(text: str, allowed: frozenset[str]) -> str:
    """Why ``text`` is not a valid Jinja2 template using only ``allowed`` variables ("" if it is).

    Checked here, at load time, so a broken query is a configuration error with its line;
    rendering itself happens in the sandboxed environment of the render layer.
    """
    import jinja2
    import jinja2.meta
    import jinja2.sandbox

    env = jinja2.sandbox.SandboxedEnvironment()
    try:
        parsed = env.parse(text)
        variables = jinja2.meta.find_undeclared_variables(parsed)  # compiles: unknown filters
    except jinja2.TemplateSyntaxError as exc:
        return f"expected a template, found a syntax error at its line {exc.lineno}: {exc.message}"
    unknown = sorted(variables - allowed)
    if unknown:
        return (
            f"unknown variable {', '.join(unknown)} in the template; a query may use"
            f" {', '.join('{{ ' + v + ' }}' for v in sorted(allowed))}"
        )
    return ""


def basic_auth_rule(values: Any, raw: Any, path: KeyPath, ctx: Context) -> None:
    """Basic auth needs both names; it does not go with a bearer token."""
    if values.get("username_env") and not values.get("password_env"):
        ctx.error(path, "username_env is set but password_env is not; basic auth needs both")
    elif values.get("password_env") and not values.get("username_env"):
        ctx.error(path, "password_env is set but username_env is not; basic auth needs both")
    elif values.get("username_env") and values.get("bearer_token_env"):
        ctx.error(path, "expected either bearer_token_env or username_env/password_env, found both")


def smoke_rule(values: Any, raw: Any, path: KeyPath, ctx: Context) -> None:
    """A smoke check is an HTTP request or a command: exactly one."""
    kinds = [k for k in ("http", "command") if values.get(k) is not None]
    if len(kinds) != 1:
        found = "both" if kinds else "neither"
        ctx.error(path, f"expected exactly one of 'http' or 'command', found {found}")


def unique_names_rule(items: Any, raw: Any, path: KeyPath, ctx: Context) -> None:
    """The items' ``name`` values are unique."""
    seen: dict[str, int] = {}
    for i, item in enumerate(items):
        if item.name in seen:
            ctx.error(
                (*path, i, "name"),
                f"expected a unique name, found '{item.name}', already used by item"
                f" {seen[item.name]}",
            )
        seen.setdefault(item.name, i)


def slack_rule(values: Any, raw: Any, path: KeyPath, ctx: Context) -> None:
    """Slack needs a webhook, or a bot token and the channel it posts to."""
    if values.get("bot_token_env") and not values.get("channel"):
        ctx.error(path, "bot_token_env is set but channel is not; a bot posts to a channel")
    elif not values.get("webhook_url_env") and not values.get("bot_token_env"):
        ctx.error(
            path,
            "expected webhook_url_env (a message per event) or bot_token_env and channel (one"
            " message per rollout, updated in place), found neither",
        )
