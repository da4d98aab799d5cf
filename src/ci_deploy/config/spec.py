"""The schema of ``ci-deploy.yml``: every key, its type, default and doc, in one place.

Sections marked "filled by a later issue" (migrations) are thin but
strict: what they accept is validated, unknown keys are rejected. The file is long on purpose:
it is one declarative table, and docs/configuration.md's reference is generated from it.
"""

from __future__ import annotations

import re

from ci_deploy.config import model
from ci_deploy.config.parsers import (
    ENV_VAR,
    HEADER_NAME,
    HELM_VALUE_PATH,
    HTTP_METHODS,
    IDENTIFIER,
    LABEL_KEY,
    LOG_LEVELS,
    METRIC_UNITS,
    NO_DATA_POLICIES,
    SERVICE_NAME,
    TRAFFIC_ROUTERS,
    TriggerList,
    basic_auth_rule,
    choice,
    dns_label,
    hpa_rule,
    integer,
    key_dns_label,
    key_pattern,
    p_bool,
    p_dns_subdomain,
    p_env_value,
    p_env_var_ref,
    p_http_path,
    p_identifier,
    p_image_tag,
    p_probability,
    p_regex,
    p_repository,
    p_severities,
    p_statuses,
    p_steps,
    p_string,
    p_surge,
    p_url,
    queries_rule,
    slack_rule,
    smoke_rule,
    stages_rule,
    unique_names_rule,
)
from ci_deploy.config.schema import Field, ListOf, MapOf, Node, Record, Scalar, StringOr
from ci_deploy.config.values import (
    parse_duration,
    parse_percentage,
    parse_quantity,
    parse_threshold,
)

ENV_VAR_WHAT = "an environment variable name (letters, digits, '_', not starting with a digit)"

# --- the schema ---------------------------------------------------------------------------

DURATION = Scalar("duration", parse_duration)
STRING = Scalar("string", p_string)
BOOL = Scalar("boolean", p_bool)
THRESHOLD = Scalar("threshold", parse_threshold)
STRING_MAP = MapOf("mapping of name to string", key_pattern(SERVICE_NAME, "a name"), STRING)

RESOURCES = Record(
    "resources",
    (
        Field(
            "cpu", Scalar("Kubernetes quantity", parse_quantity), "CPU per pod", example='"250m"'
        ),
        Field(
            "memory",
            Scalar("Kubernetes quantity", parse_quantity),
            "memory per pod",
            example='"256Mi"',
        ),
    ),
)


# Where an app's objects come from (one at most; none: the built-in templates). Also an
# environment's own `manifests:`, which replaces the app's source for that environment.
SOURCE_FIELDS = (
    Field(
        "templates",
        STRING,
        "folder of your own templates, relative to this file",
        default="built-in templates",
    ),
    Field(
        "files",
        ListOf("list of paths or globs", Scalar("path or glob", p_string), min_items=1),
        "plain manifests instead of templates (multi-document YAML, no templating): paths"
        " or globs relative to this file, inside the repository; {environment} is the"
        " environment's name. The deployed image replaces every container image of"
        " image.repository",
        example='["deploy/*.yaml", "deploy/{environment}/*.yaml"]',
    ),
    Field(
        "kustomize",
        STRING,
        "a Kustomize folder (with kustomization.yaml) relative to this file, inside the"
        " repository; {environment} is the environment's name. Built with `kustomize"
        " build`, else `kubectl kustomize`",
        example="deploy/overlays/{environment}",
    ),
    Field(
        "helm",
        Record(
            "helm",
            (
                Field(
                    "chart",
                    STRING,
                    "a chart folder or packaged chart (.tgz) of the repository, relative to"
                    " this file",
                    required=True,
                    example="charts/web-app",
                ),
                Field(
                    "release",
                    Scalar("DNS-1123 label", dns_label("a release name")),
                    "the release name (.Release.Name)",
                    default="the app's name",
                ),
                Field(
                    "values",
                    ListOf("list of files", Scalar("file", p_string)),
                    "values files in order (-f), relative to this file; {environment} is"
                    " the environment's name",
                    example='[values.yaml, "values-{environment}.yaml"]',
                ),
                Field(
                    "set",
                    MapOf(
                        "mapping of value path to value",
                        key_pattern(HELM_VALUE_PATH, "a value path such as image.pullPolicy"),
                        Scalar("string", p_env_value),
                        key_doc="<path>",
                    ),
                    "--set values ({environment} is the environment's name)",
                ),
            ),
            build=model.HelmConfig,
        ),
        "a Helm chart rendered with `helm template` (release, namespace and --kube-version"
        " set by ci-deploy)",
    ),
)


def _environment_fields(*, overlay: bool) -> tuple[Field, ...]:
    common = (
        Field("cluster", STRING, "kube context name to deploy with", example="production"),
        Field("replicas", Scalar("integer ≥ 0", integer(0)), "pod count", default="1", example="3"),
        Field("resources", RESOURCES, "CPU and memory per pod (requests and limits)"),
        Field(
            "log_level",
            Scalar("log level", choice(LOG_LEVELS)),
            "application log level (the built-in templates set LOG_LEVEL)",
            example="info",
        ),
        Field(
            "env",
            MapOf(
                "mapping of env var name to string",
                key_pattern(
                    ENV_VAR,
                    ENV_VAR_WHAT,
                ),
                Scalar("string", p_env_value),
            ),
            "container environment variables; merged with defaults, win over derived ones",
            default="{}",
        ),
        Field(
            "external_services",
            STRING_MAP,
            "service name → URL (the built-in templates set <NAME>_URL); merged with defaults",
            default="{}",
        ),
        Field(
            "database",
            STRING,
            "database name (the built-in templates set DATABASE_NAME)",
            example="staging-db",
        ),
        Field(
            "create_namespace",
            BOOL,
            "create the namespace when it is missing (else a deploy into a missing one is exit 2)",
            default="false",
        ),
        Field(
            "protected",
            BOOL,
            "refuse tag-less and :latest images (production-like environments)",
            default="false",
        ),
    )
    if not overlay:
        return common
    return (
        Field(
            "namespace",
            Scalar("DNS-1123 label", dns_label("a namespace")),
            "Kubernetes namespace",
            default="<app>-<environment>",
        ),
        *common,
        Field(
            "url",
            Scalar("URL", p_url),
            "public URL (the environment-url output)",
            example="https://staging.example.com",
        ),
        Field(
            "strategy",
            Scalar("strategy", choice(model.STRATEGIES)),
            "strategy for this environment",
            default="top-level strategy",
        ),
        Field(
            "manifests",
            Record("manifest source", SOURCE_FIELDS, build=model.ManifestSource),
            "this environment's own source of objects (templates, files, kustomize or helm),"
            " replacing the app's manifests source; port, ingress and the rest stay the app's",
        ),
    )


ENVIRONMENT = Record("environment", _environment_fields(overlay=True))
DEFAULTS = Record("environment defaults", _environment_fields(overlay=False))

STAGE = Record(
    "canary stage",
    (
        Field("name", STRING, "stage name, unique", required=True, example="initial"),
        Field(
            "traffic_percentage",
            Scalar("percentage", lambda v: parse_percentage(v, allow_zero=False)),
            "share of traffic sent to the new version (above 0, at most 100)",
            required=True,
            example="5",
        ),
        Field("duration", DURATION, "how long the stage runs before the next", example='"15m"'),
        Field(
            "monitor_duration",
            DURATION,
            "how long to keep watching after this stage",
            example='"2h"',
        ),
        Field(
            "pause",
            BOOL,
            "stop after this stage until `ci-deploy promote` (a manual gate)",
            default="false",
        ),
        Field(
            "success_criteria",
            MapOf(
                "mapping of metric to threshold",
                key_pattern(IDENTIFIER, "a metric name (letters, digits, '_')"),
                THRESHOLD,
            ),
            "metric → threshold that must hold during the stage",
            default="{}",
            example='{error_rate: "< 0.1%"}',
        ),
    ),
    build=model.CanaryStage,
)

CANARY = Record(
    "canary",
    (
        Field(
            "stages",
            ListOf("list of stages", STAGE, min_items=1, validators=(stages_rule,)),
            "traffic steps; increasing, the last at 100",
            required=True,
        ),
        Field("rollback_triggers", TriggerList(), "roll back as soon as one holds", default="[]"),
        Field(
            "traffic_router",
            Scalar("router", choice(TRAFFIC_ROUTERS)),
            (
                "how traffic is split: replicas (pod ratio), gateway-api (needs"
                " manifests.http_route), nginx-ingress (needs manifests.ingress)"
            ),
            default="replicas",
        ),
        Field(
            "baseline",
            BOOL,
            (
                "run the stable version, freshly started, beside the canary at its size and"
                " share (Deployment <app>-baseline, pods labelled ci-deploy.dev/track: baseline)"
                " at the stages below 50%, for a like-for-like comparison; not with"
                " nginx-ingress"
            ),
            default="false",
        ),
    ),
    build=model.CanaryConfig,
)

COLOR = Record(
    "blue-green color",
    (
        Field("cluster", STRING, "kube context of this color", example="production-blue"),
        Field(
            "load_balancer_target",
            STRING,
            "load balancer target group",
            example="blue-target-group",
        ),
        Field("database", STRING, "database of this color", example="prod-db-blue"),
    ),
    build=model.BlueGreenColor,
)

BLUE_GREEN = Record(
    "blue_green",
    (
        Field(
            "environments",
            MapOf(
                "mapping of color to settings",
                key_pattern(re.compile(r"^(blue|green)$"), "blue or green"),
                COLOR,
                key_doc="<blue|green>",
            ),
            "per-color settings (seed shape)",
            default="{}",
        ),
        Field(
            "deployment_process",
            Scalar("list of strings", p_steps),
            "the steps, as documentation (a list, or the seed's numbered text)",
            default="[]",
        ),
        Field("auto_promote", BOOL, "switch traffic without a manual promote", default="true"),
        Field(
            "scale_down_delay",
            DURATION,
            "how long the old color stays up after the switch (the rollback_triggers are"
            " judged meanwhile)",
            default="30s",
        ),
        Field(
            "rollback_triggers",
            TriggerList(),
            (
                "switch back as soon as one holds: judged on the new color's metrics"
                " ({{ color }}) every analysis.interval during scale_down_delay"
            ),
            default="[]",
        ),
    ),
    build=model.BlueGreenConfig,
)

ROLLING = Record(
    "rolling",
    (
        Field(
            "max_surge",
            Scalar("pods or percentage", p_surge),
            "extra pods during the update",
            default="25%",
        ),
        Field(
            "max_unavailable",
            Scalar("pods or percentage", p_surge),
            "pods that may be down",
            default="25%",
        ),
        Field(
            "progress_deadline",
            DURATION,
            "fail the rollout if no progress for this long",
            default="10m",
        ),
    ),
    build=model.RollingConfig,
)

INGRESS = Record(
    "ingress",
    (
        Field(
            "host",
            Scalar("DNS name", p_dns_subdomain),
            "host name",
            required=True,
            example="app.example.com",
        ),
        Field("class_name", STRING, "ingressClassName", example="nginx"),
        Field("path", Scalar("URL path", p_http_path), "path prefix", default="/"),
        Field("tls_secret", Scalar("DNS name", p_dns_subdomain), "Secret with the TLS certificate"),
    ),
    build=model.IngressConfig,
)

HTTP_ROUTE = Record(
    "http_route",
    (
        Field(
            "hostnames",
            ListOf("list of DNS names", Scalar("DNS name", p_dns_subdomain), min_items=1),
            "host names",
            required=True,
        ),
        Field(
            "parent_ref",
            Record(
                "parent_ref",
                (
                    Field(
                        "name", Scalar("DNS name", p_dns_subdomain), "Gateway name", required=True
                    ),
                    Field(
                        "namespace",
                        Scalar("DNS-1123 label", dns_label("a namespace")),
                        "Gateway namespace",
                    ),
                ),
                build=model.ParentRef,
            ),
            "the Gateway to attach to",
            required=True,
        ),
    ),
    build=model.HTTPRouteConfig,
)

HPA = Record(
    "hpa",
    (
        Field("min_replicas", Scalar("integer ≥ 1", integer(1)), "lower bound", required=True),
        Field("max_replicas", Scalar("integer ≥ 1", integer(1)), "upper bound", required=True),
        Field(
            "cpu_utilization",
            Scalar("integer 1–100", integer(1, 100)),
            "target CPU %",
            default="80",
        ),
    ),
    build=model.HPAConfig,
    validators=(hpa_rule,),
)

MANIFESTS = Record(
    "manifests",
    (
        *SOURCE_FIELDS,
        Field("port", Scalar("port", integer(1, 65535)), "container port", default="8080"),
        Field(
            "health_path",
            Scalar("URL path", p_http_path),
            "readiness/liveness probe path",
            default="/health",
        ),
        Field("ingress", INGRESS, "render an Ingress"),
        Field("http_route", HTTP_ROUTE, "render a Gateway API HTTPRoute"),
        Field("hpa", HPA, "render a HorizontalPodAutoscaler"),
        Field(
            "hooks",
            Record(
                "hooks",
                (
                    Field(
                        "pre_deploy",
                        ListOf("list of Job names", Scalar("DNS name", p_dns_subdomain)),
                        "rendered Jobs run (and awaited) before the rollout; one that fails stops"
                        " the deploy before any workload changes",
                        example="[db-migrate]",
                    ),
                    Field(
                        "post_deploy",
                        ListOf("list of Job names", Scalar("DNS name", p_dns_subdomain)),
                        "rendered Jobs run once the new version is verified; one that fails"
                        " rolls it back",
                        example="[smoke-test]",
                    ),
                ),
                build=model.HooksConfig,
            ),
            "hook Jobs by name, as the annotation ci-deploy.dev/hook marks them",
        ),
        Field(
            "primary",
            Scalar("DNS name", p_dns_subdomain),
            "the Deployment among the rendered objects that the strategy rolls out and the"
            " state record lives on (a chart's `release-chart`); the app's other Deployments,"
            " StatefulSets and DaemonSets are watched and rolled back with it",
            default="the app's name",
            example="web-app-frontend",
        ),
    ),
)

ENV_NAME = Scalar("env var name", p_env_var_ref)
HEADERS_ENV = MapOf(
    "mapping of header name to env var name",
    key_pattern(HEADER_NAME, "an HTTP header name"),
    ENV_NAME,
    key_doc="<header>",
)
COUNT = Scalar("integer", integer(0))

METRIC_QUERY = Record(
    "metric query",
    (
        Field(
            "query",
            STRING,
            "PromQL template ({{ app }}, {{ namespace }}, {{ environment }}, {{ track }},"
            " {{ color }} on blue-green, {{ window }})",
            default="the built-in query of that name",
        ),
        Field(
            "unit",
            Scalar("unit", choice(METRIC_UNITS)),
            "what the query returns: percent (0–100), ratio (0–1), seconds, milliseconds, number",
            default="percent for % rules, seconds for ms/s rules",
        ),
        Field(
            "no_data",
            Scalar("policy", choice(NO_DATA_POLICIES)),
            "an empty or NaN result, or no answer: fail, pass or inconclusive (pause)",
            default="analysis.no_data",
        ),
    ),
    build=model.MetricQuery,
)

PROMETHEUS = Record(
    "prometheus",
    (
        Field(
            "address",
            Scalar("URL", p_url),
            "Prometheus base URL",
            required=True,
            example="http://prometheus:9090",
        ),
        Field(
            "address_env",
            ENV_NAME,
            "env var that, when set, replaces address (a per-cluster URL)",
            example="PROMETHEUS_URL",
        ),
        Field(
            "queries",
            MapOf(
                "mapping of metric to PromQL",
                key_pattern(IDENTIFIER, "a metric name (letters, digits, '_')"),
                StringOr(METRIC_QUERY, lambda text: model.MetricQuery(query=text)),
                validators=(queries_rule,),
                key_doc="<metric>",
            ),
            "metric name → PromQL template (or {query, unit, no_data})",
            default="{}",
        ),
        Field("bearer_token_env", ENV_NAME, "env var holding a bearer token"),
        Field("username_env", ENV_NAME, "env var holding the basic-auth user"),
        Field("password_env", ENV_NAME, "env var holding the basic-auth password"),
        Field("headers_env", HEADERS_ENV, "header → env var holding its value", default="{}"),
        Field("ca_file", STRING, "CA bundle to verify the server with"),
        Field("insecure_skip_tls_verify", BOOL, "do not verify the certificate", default="false"),
        Field("timeout", DURATION, "per request", default="10s"),
        Field("retries", COUNT, "retries of a 5xx, 429 or no answer", default="2"),
    ),
    build=model.PrometheusConfig,
    validators=(basic_auth_rule,),
    secret_keys={
        "bearer_token": "bearer_token_env",
        "token": "bearer_token_env",
        "password": "password_env",
        "headers": "headers_env",
    },
)

HTTP_CHECK = Record(
    "http check",
    (
        Field(
            "url",
            STRING,
            "URL template ({{ url }}, {{ service }}, {{ namespace }}, {{ app }}, …)",
            required=True,
            example='"{{ url }}/health"',
        ),
        Field("method", Scalar("HTTP method", choice(HTTP_METHODS)), "", default="GET"),
        Field("status", Scalar("status codes", p_statuses), "accepted status codes", default="200"),
        Field("body", Scalar("regular expression", p_regex), "the body must match"),
        Field("max_latency", DURATION, "slowest acceptable answer", example="500ms"),
        Field("headers_env", HEADERS_ENV, "header → env var holding its value", default="{}"),
        Field("retries", COUNT, "tries after the first before it fails", default="3"),
        Field("retry_delay", DURATION, "between tries", default="2s"),
        Field("timeout", DURATION, "per request", default="10s"),
        Field("insecure_skip_tls_verify", BOOL, "do not verify the certificate", default="false"),
    ),
    build=model.HttpCheckConfig,
)

COMMAND_CHECK = Record(
    "command check",
    (
        Field(
            "run", STRING, "command line (no shell)", required=True, example="pytest tests/smoke"
        ),
        Field("junit", STRING, "JUnit XML it writes, relative to the repository"),
        Field("timeout", DURATION, "killed after", default="5m"),
        Field("env", STRING_MAP, "extra environment variables", default="{}"),
    ),
    build=model.CommandCheckConfig,
)

SMOKE_CHECK = Record(
    "smoke check",
    (
        Field(
            "name", Scalar("name", dns_label("a check name")), "shown in verdicts", required=True
        ),
        Field("http", StringOr(HTTP_CHECK, lambda url: model.HttpCheckConfig(url=url)), ""),
        Field(
            "command",
            StringOr(COMMAND_CHECK, lambda run: model.CommandCheckConfig(run=run)),
            "",
        ),
    ),
    build=model.SmokeCheck,
    validators=(smoke_rule,),
)

ANALYSIS = Record(
    "analysis",
    (
        Field("prometheus", PROMETHEUS, "Prometheus metric source"),
        Field("interval", DURATION, "how often rules are measured during a stage", default="10s"),
        Field("window", DURATION, "the range of {{ window }} in queries", default="1m"),
        Field(
            "failure_limit",
            COUNT,
            "failed measurements in a row tolerated; the next one rolls back",
            default="0",
        ),
        Field(
            "error_limit",
            COUNT,
            "measurements in a row with no value (no answer, bad result) before no_data applies",
            default="3",
        ),
        Field(
            "no_data",
            Scalar("policy", choice(NO_DATA_POLICIES)),
            "a rule without data: fail, pass, or inconclusive (the rollout pauses)",
            default="inconclusive",
        ),
        Field(
            "min_requests",
            COUNT,
            "requests the new version must serve in the window before a verdict",
            default="0",
        ),
        Field(
            "smoke",
            ListOf("list of checks", SMOKE_CHECK, validators=(unique_names_rule,)),
            "HTTP and command checks: `verify`, and before traffic reaches a new version",
            default="[]",
        ),
        Field(
            "baseline",
            Record(
                "baseline comparison",
                (
                    Field(
                        "metrics",
                        ListOf("list of metric names", Scalar("metric", p_identifier)),
                        "metrics compared canary against baseline",
                        required=True,
                    ),
                    Field(
                        "tolerance",
                        Scalar("percentage", parse_percentage),
                        "how much worse the canary's median may be",
                        default="10%",
                    ),
                    Field(
                        "alpha",
                        Scalar("significance", p_probability),
                        "Mann–Whitney U significance level",
                        default="0.05",
                    ),
                ),
                build=model.BaselineComparison,
            ),
            "Mann–Whitney U comparison with the baseline (needs canary.baseline: true)",
        ),
    ),
    build=model.AnalysisConfig,
)

NOTIFY_EVENT_LIST = ListOf(
    "list of lifecycle events", Scalar("lifecycle event", choice(model.NOTIFY_EVENTS))
)
REQUIRED = Field(
    "required",
    BOOL,
    "a failed post fails the job (exit 4 before any change at the start, else 1); otherwise"
    " it is a warning",
    default="false",
)

NOTIFICATIONS = Record(
    "notifications",
    (
        Field(
            "github",
            Record(
                "github",
                (
                    Field(
                        "enabled",
                        BOOL,
                        "in GitHub Actions with a token: a deployment per rollout, its statuses",
                        default="true",
                    ),
                    Field(
                        "token_env",
                        ENV_NAME,
                        "env var holding the token (the action's github-token input sets it)",
                        default="GITHUB_TOKEN",
                    ),
                    Field(
                        "commit_status",
                        BOOL,
                        "also a commit status ci-deploy/<environment> on the commit",
                        default="true",
                    ),
                    REQUIRED,
                ),
                build=model.GitHubNotifyConfig,
                secret_keys={"token": "token_env"},
            ),
            "GitHub deployments and statuses (docs/notifications.md)",
            default="enabled",
        ),
        Field(
            "gitlab",
            Record(
                "gitlab",
                (
                    Field(
                        "merge_request_note",
                        BOOL,
                        "in merge-request pipelines: one note per rollout, updated in place",
                        default="false",
                    ),
                    Field(
                        "token_env",
                        ENV_NAME,
                        "env var holding a token with the api scope (CI_JOB_TOKEN: sent as"
                        " JOB-TOKEN)",
                        default="GITLAB_TOKEN",
                    ),
                    REQUIRED,
                ),
                build=model.GitLabNotifyConfig,
                secret_keys={"token": "token_env"},
            ),
            "GitLab merge-request notes (the environment itself comes from the job's"
            " environment: and the dotenv report)",
        ),
        Field(
            "slack",
            Record(
                "slack",
                (
                    Field(
                        "webhook_url_env",
                        ENV_NAME,
                        "env var holding an incoming-webhook URL: a message per event",
                        example="SLACK_WEBHOOK",
                    ),
                    Field(
                        "bot_token_env",
                        ENV_NAME,
                        "env var holding a bot token (chat:write): one message per rollout,"
                        " updated in place",
                        example="SLACK_BOT_TOKEN",
                    ),
                    Field(
                        "channel",
                        STRING,
                        "channel the bot posts to (with bot_token_env)",
                        example="'#deployments'",
                    ),
                    Field(
                        "events",
                        NOTIFY_EVENT_LIST,
                        "the lifecycle events that post (with a webhook)",
                        default="the start, pauses and every outcome",
                    ),
                    Field(
                        "api_url",
                        Scalar("URL", p_url),
                        "Slack Web API",
                        default="https://slack.com/api",
                    ),
                    REQUIRED,
                ),
                build=model.SlackConfig,
                validators=(slack_rule,),
                secret_keys={
                    "webhook_url": "webhook_url_env",
                    "webhook": "webhook_url_env",
                    "token": "bot_token_env",
                    "bot_token": "bot_token_env",
                },
            ),
            "Slack messages",
        ),
        Field(
            "pagerduty",
            Record(
                "pagerduty",
                (
                    Field(
                        "routing_key_env",
                        ENV_NAME,
                        "env var holding the Events v2 integration (routing) key",
                        required=True,
                        example="PAGERDUTY_ROUTING_KEY",
                    ),
                    Field(
                        "events_url",
                        Scalar("URL", p_url),
                        "Events API v2 endpoint",
                        default="https://events.pagerduty.com/v2/enqueue",
                    ),
                    Field(
                        "severity",
                        Scalar("severity", choice(("critical", "error", "warning", "info"))),
                        "of the incident a failed rollback opens",
                        default="critical",
                    ),
                    REQUIRED,
                ),
                build=model.PagerDutyConfig,
                secret_keys={"routing_key": "routing_key_env", "api_key": "routing_key_env"},
            ),
            "PagerDuty: an incident when a rollback fails, resolved by the next success",
        ),
        Field("timeout", DURATION, "per request", default="10s"),
        Field("retries", COUNT, "retries of a 5xx, 429 or no answer", default="3"),
    ),
    build=model.NotificationsConfig,
)

BUILD_ARG_MAP = MapOf(
    "mapping of build argument to value",
    key_pattern(ENV_VAR, "a build argument name (letters, digits, '_')"),
    Scalar("string", p_env_value),
    key_doc="<ARG>",
)
LABEL_MAP = MapOf(
    "mapping of label to value",
    key_pattern(LABEL_KEY, "a label key (letters, digits, '.', '-', '_', '/')"),
    Scalar("string", p_env_value),
    key_doc="<label>",
)

BUILD = Record(
    "build",
    (
        Field(
            "context",
            Scalar("folder", p_string),
            "build context, relative to the configuration file; must stay inside the repository",
            default=".",
        ),
        Field(
            "file",
            Scalar("file", p_string),
            "the Dockerfile, relative to the context",
            default="Dockerfile",
        ),
        Field("target", Scalar("stage name", p_string), "the build stage to build (--target)"),
        Field(
            "tags",
            ListOf("list of tags", Scalar("image tag", p_image_tag)),
            "tags besides the commit SHA (each pushed with --push)",
            example="[latest]",
        ),
        Field(
            "build_args",
            BUILD_ARG_MAP,
            "--build-arg values (not for secrets: they stay in the image history)",
        ),
        Field("labels", LABEL_MAP, "labels besides the OCI ones ci-deploy sets"),
        Field(
            "network",
            Scalar("network", p_string),
            "network of RUN steps (docker build --network), e.g. host",
        ),
        Field(
            "registry",
            Record(
                "registry login",
                (
                    Field("username_env", ENV_NAME, "env var holding the user", required=True),
                    Field("password_env", ENV_NAME, "env var holding the password", required=True),
                ),
                build=model.RegistryLoginConfig,
                secret_keys={"password": "password_env", "token": "password_env"},
            ),
            "credentials for pushing to the image repository's registry",
            default="CI_REGISTRY_USER/CI_REGISTRY_PASSWORD on GitLab, GITHUB_TOKEN for ghcr.io",
        ),
    ),
    build=model.BuildConfig,
)

SCAN = Record(
    "scan",
    (
        Field(
            "severity",
            Scalar("severities", p_severities),
            "severities that fail the gate (a list, or comma-separated)",
            default="HIGH, CRITICAL",
        ),
        Field(
            "ignore_unfixed",
            BOOL,
            "vulnerabilities without a fixed version do not fail the gate",
            default="false",
        ),
        Field(
            "ignore_file",
            Scalar("file", p_string),
            "Trivy ignore file (.trivyignore or .trivyignore.yaml; `exp:` dates honoured),"
            " relative to the configuration file",
            default=".trivyignore when present",
        ),
        Field(
            "scanners",
            ListOf("list of scanners", Scalar("scanner", choice(model.SCANNERS)), min_items=1),
            "what Trivy looks for when ci-deploy runs it",
            default="[vuln, secret]",
        ),
        Field("timeout", DURATION, "give up a Trivy run after this long", default="10m"),
    ),
    build=model.ScanConfig,
)

MIGRATIONS = Record(
    "migrations (filled by a later issue)",
    (
        Field(
            "command", STRING, "command that applies migrations", example='"alembic upgrade head"'
        ),
        Field("tool", STRING, "migration tool, for messages", example="alembic"),
        Field("timeout", DURATION, "give up after this long", default="10m"),
    ),
    build=model.MigrationsConfig,
)

CONFIG: Node = Record(
    "ci-deploy configuration",
    (
        Field(
            "app",
            Scalar("DNS-1123 label", dns_label("an app name")),
            "application name (Deployment name, labels)",
            required=True,
            example="web-app",
        ),
        Field(
            "image",
            Record(
                "image",
                (
                    Field(
                        "repository",
                        Scalar("image repository", p_repository),
                        "image repository, no tag",
                        required=True,
                        example="registry.example.com/acme/web-app",
                    ),
                    Field(
                        "container",
                        Scalar("container name", dns_label("a container name")),
                        "the container of the app's Deployment that runs the deployed image "
                        "(ci-deploy sets its image; for templates that hard-code one)",
                        example="app",
                    ),
                ),
                build=model.ImageConfig,
            ),
            "the application image",
            required=True,
        ),
        Field(
            "strategy",
            Scalar("strategy", choice(model.STRATEGIES)),
            "default strategy",
            default="rolling",
        ),
        Field("manifests", MANIFESTS, "how Kubernetes objects are rendered"),
        Field("defaults", DEFAULTS, "settings every environment starts from"),
        Field(
            "environments",
            MapOf(
                "mapping of environment name to settings",
                key_dns_label,
                ENVIRONMENT,
                min_items=1,
                key_doc="<environment>",
            ),
            "the environments",
            required=True,
        ),
        Field("rolling", ROLLING, "rolling update settings"),
        Field("canary", CANARY, "canary strategy", aliases=("canary_deployment",)),
        Field("blue_green", BLUE_GREEN, "blue-green strategy", aliases=("blue_green_deployment",)),
        Field("analysis", ANALYSIS, "how a new version is judged (docs/analysis.md)"),
        Field(
            "notifications",
            NOTIFICATIONS,
            "where deployment news goes: GitHub, Slack, PagerDuty (docs/notifications.md)",
        ),
        Field("build", BUILD, "how `ci-deploy build` builds the image (docs/build-and-scan.md)"),
        Field("scan", SCAN, "how `ci-deploy scan` gates on findings (docs/build-and-scan.md)"),
        Field("migrations", MIGRATIONS, "database migrations (filled by a later issue)"),
    ),
)
