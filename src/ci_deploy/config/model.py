"""The typed configuration: frozen dataclasses built by ``load_config`` from ``ci-deploy.yml``.

Everything here is already validated; code that receives a ``Config`` never re-checks shapes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ci_deploy.config.values import Duration, Threshold
from ci_deploy.errors import UserInputError

StrategyName = Literal["rolling", "blue_green", "canary"]
STRATEGIES: tuple[StrategyName, ...] = ("rolling", "blue_green", "canary")


@dataclass(frozen=True)
class ImageConfig:
    """Where the application image lives; the tag or digest comes with each deploy."""

    repository: str
    container: str | None = None  # the container whose image ci-deploy sets (None: by match)


@dataclass(frozen=True)
class IngressConfig:
    """An Ingress in front of the Service."""

    host: str
    class_name: str | None = None
    path: str = "/"
    tls_secret: str | None = None


@dataclass(frozen=True)
class ParentRef:
    """The Gateway an HTTPRoute attaches to."""

    name: str
    namespace: str | None = None


@dataclass(frozen=True)
class HTTPRouteConfig:
    """A Gateway API HTTPRoute in front of the Service."""

    hostnames: tuple[str, ...]
    parent_ref: ParentRef


@dataclass(frozen=True)
class HPAConfig:
    """A HorizontalPodAutoscaler for the primary Deployment."""

    min_replicas: int
    max_replicas: int
    cpu_utilization: int = 80


@dataclass(frozen=True)
class HelmConfig:
    """A Helm chart of the repository, rendered with ``helm template``."""

    chart: str  # a chart folder or packaged chart (.tgz), relative to the configuration
    release: str | None = None  # None: the app's name
    values: tuple[str, ...] = ()  # values files, in order; {environment} replaced
    set: dict[str, str] = field(default_factory=dict)  # --set NAME=VALUE ({environment} too)


@dataclass(frozen=True)
class ManifestSource:
    """An environment's own source of objects (``environments.<env>.manifests``)."""

    templates: str | None = None  # relative to the configuration file
    files: tuple[str, ...] | None = None
    kustomize: str | None = None
    helm: HelmConfig | None = None


@dataclass(frozen=True)
class HooksConfig:
    """Rendered Jobs run around the rollout, by name (as ``ci-deploy.dev/hook`` marks them)."""

    pre_deploy: tuple[str, ...] = ()
    post_deploy: tuple[str, ...] = ()


@dataclass(frozen=True)
class ManifestsConfig:
    """Which templates render the Kubernetes objects, and the values they need."""

    templates: Path | None = None  # folder of user templates; None = the built-in ones
    # plain manifests instead of templates: globs relative to the configuration file, with
    # {environment} replaced by the environment's name; no templating
    files: tuple[str, ...] | None = None
    # a Kustomize folder (kustomization.yaml), {environment} replaced: built with kustomize or
    # kubectl kustomize
    kustomize: str | None = None
    helm: HelmConfig | None = None
    port: int = 8080
    health_path: str = "/health"
    ingress: IngressConfig | None = None
    http_route: HTTPRouteConfig | None = None
    hpa: HPAConfig | None = None
    # the Deployment the strategies roll out and the state record lives on (None: the app's
    # name); the others are watched and rolled back with it
    primary: str | None = None
    hooks: HooksConfig = HooksConfig()


@dataclass(frozen=True)
class RollingConfig:
    """Rolling update parameters (Kubernetes RollingUpdate semantics)."""

    max_surge: int | str = "25%"
    max_unavailable: int | str = "25%"
    progress_deadline: Duration = field(default_factory=lambda: Duration(600.0, "10m"))


@dataclass(frozen=True)
class CanaryStage:
    """One step of a canary: send ``traffic_percentage`` to the new version, then judge it."""

    name: str
    traffic_percentage: float
    duration: Duration | None = None
    monitor_duration: Duration | None = None
    success_criteria: dict[str, Threshold] = field(default_factory=dict)
    pause: bool = False  # a manual gate after the stage: `ci-deploy promote` continues


@dataclass(frozen=True)
class Trigger:
    """A rollback trigger: a metric rule (``error_rate > 0.5%``) or the manual trigger."""

    metric: str
    threshold: Threshold | None = None
    manual: bool = False


@dataclass(frozen=True)
class CanaryConfig:
    """Canary strategy: stages with increasing traffic, ending at 100%."""

    stages: tuple[CanaryStage, ...]
    rollback_triggers: tuple[Trigger, ...] = ()
    traffic_router: str = "replicas"  # replicas | gateway-api | nginx-ingress
    baseline: bool = False  # the stable version beside the canary, at its size and share


@dataclass(frozen=True)
class BlueGreenColor:
    """Where one color runs (seed shape: cluster, load balancer target, database)."""

    cluster: str | None = None
    load_balancer_target: str | None = None
    database: str | None = None


@dataclass(frozen=True)
class BlueGreenConfig:
    """Blue-green strategy: deploy the idle color, check it, switch the Service, keep the old."""

    environments: dict[str, BlueGreenColor] = field(default_factory=dict)
    deployment_process: tuple[str, ...] = ()  # human-readable steps, for docs and notes
    auto_promote: bool = True
    scale_down_delay: Duration = field(default_factory=lambda: Duration(30.0, "30s"))
    rollback_triggers: tuple[Trigger, ...] = ()  # judged on the new colour after the switch


@dataclass(frozen=True)
class MetricQuery:
    """A named metric: its PromQL template, the unit of its value and its no-data policy.

    ``query`` None: the built-in query of that metric name (``analysis.queries``).
    ``unit`` None: percent for ``%`` rules, seconds for ``ms``/``s`` rules, a number otherwise.
    ``no_data`` None: ``analysis.no_data``.
    """

    query: str | None = None
    unit: str | None = None  # percent | ratio | seconds | milliseconds | number
    no_data: str | None = None  # fail | pass | inconclusive


@dataclass(frozen=True)
class PrometheusConfig:
    """A Prometheus server: where, how to authenticate (secrets by env var name), which queries."""

    address: str
    address_env: str | None = None  # when this variable is set, its value replaces address
    queries: dict[str, MetricQuery] = field(default_factory=dict)
    bearer_token_env: str | None = None
    username_env: str | None = None
    password_env: str | None = None
    headers_env: dict[str, str] = field(default_factory=dict)  # header → env var with its value
    ca_file: str | None = None
    insecure_skip_tls_verify: bool = False
    timeout: Duration = field(default_factory=lambda: Duration(10.0, "10s"))
    retries: int = 2


@dataclass(frozen=True)
class HttpCheckConfig:
    """An HTTP smoke check: a request and what its answer must be."""

    url: str  # a template: {{ url }}, {{ service }}, {{ namespace }}, …
    method: str = "GET"
    status: tuple[int, ...] = (200,)
    body: str | None = None  # a regular expression the body must match
    max_latency: Duration | None = None
    headers_env: dict[str, str] = field(default_factory=dict)
    retries: int = 3
    retry_delay: Duration = field(default_factory=lambda: Duration(2.0, "2s"))
    timeout: Duration = field(default_factory=lambda: Duration(10.0, "10s"))
    insecure_skip_tls_verify: bool = False


@dataclass(frozen=True)
class CommandCheckConfig:
    """The user's own test command (``pytest tests/smoke``) and the JUnit XML it writes."""

    run: str
    junit: str | None = None
    timeout: Duration = field(default_factory=lambda: Duration(300.0, "5m"))
    env: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SmokeCheck:
    """One smoke check, HTTP or command: run by ``verify`` and before traffic moves."""

    name: str
    http: HttpCheckConfig | None = None
    command: CommandCheckConfig | None = None


@dataclass(frozen=True)
class BaselineComparison:
    """Canary against baseline (Mann–Whitney U over the two series), beside the rules."""

    metrics: tuple[str, ...] = ()
    tolerance: float = 10.0  # percent the canary's median may be worse than the baseline's
    alpha: float = 0.05


@dataclass(frozen=True)
class AnalysisConfig:
    """How a new version is judged: the metric source, the rules' timing and limits, checks."""

    prometheus: PrometheusConfig | None = None
    interval: Duration = field(default_factory=lambda: Duration(10.0, "10s"))
    window: Duration = field(default_factory=lambda: Duration(60.0, "1m"))
    failure_limit: int = 0  # failed measurements in a row tolerated (0: the first one trips)
    error_limit: int = 3  # measurements in a row without a value before no_data applies
    no_data: str = "inconclusive"
    min_requests: int = 0
    smoke: tuple[SmokeCheck, ...] = ()
    baseline: BaselineComparison | None = None


NOTIFY_EVENTS: tuple[str, ...] = (
    "started",
    "step",
    "paused",
    "resumed",
    "promoted",
    "rolling_back",
    "succeeded",
    "failed",
    "aborted",
    "rolled_back",
    "rollback_failed",
    "verified",
    "verify_failed",
)
# What Slack hears unless told otherwise: the start, the gates and every outcome; not each step.
DEFAULT_SLACK_EVENTS: tuple[str, ...] = tuple(
    e for e in NOTIFY_EVENTS if e not in ("step", "promoted")
)


@dataclass(frozen=True)
class GitHubNotifyConfig:
    """GitHub deployments, deployment statuses and a commit status (in GitHub Actions)."""

    enabled: bool = True
    token_env: str = "GITHUB_TOKEN"
    commit_status: bool = True
    required: bool = False


@dataclass(frozen=True)
class GitLabNotifyConfig:
    """A note on the merge request of a merge-request pipeline: the rollout and its verdicts."""

    merge_request_note: bool = False
    token_env: str = "GITLAB_TOKEN"  # CI_JOB_TOKEN is sent as JOB-TOKEN, others as PRIVATE-TOKEN
    required: bool = False


@dataclass(frozen=True)
class SlackConfig:
    """Slack: an incoming webhook (a message per event), or a bot token and a channel (one
    message per rollout, updated in place). The URL and the token are secrets read from the
    environment variables named here."""

    webhook_url_env: str | None = None
    bot_token_env: str | None = None
    channel: str | None = None
    events: tuple[str, ...] = DEFAULT_SLACK_EVENTS
    api_url: str = "https://slack.com/api"
    required: bool = False


@dataclass(frozen=True)
class PagerDutyConfig:
    """PagerDuty Events v2: trigger when a rollback fails, resolve when a later deploy succeeds;
    the routing key is a secret read from ``routing_key_env``."""

    routing_key_env: str
    events_url: str = "https://events.pagerduty.com/v2/enqueue"
    severity: str = "critical"
    required: bool = False


@dataclass(frozen=True)
class NotificationsConfig:
    """Where deployment news goes; every notifier is told each lifecycle event."""

    github: GitHubNotifyConfig = GitHubNotifyConfig()
    gitlab: GitLabNotifyConfig = GitLabNotifyConfig()
    slack: SlackConfig | None = None
    pagerduty: PagerDutyConfig | None = None
    timeout: Duration = field(default_factory=lambda: Duration(10.0, "10s"))
    retries: int = 3


SEVERITY_LEVELS = ("UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL")
SCANNERS = ("vuln", "secret", "misconfig")


@dataclass(frozen=True)
class RegistryLoginConfig:
    """Registry credentials from environment variables (never written in the file)."""

    username_env: str
    password_env: str


@dataclass(frozen=True)
class BuildConfig:
    """How ``ci-deploy build`` builds the application image (docs/build-and-scan.md)."""

    context: str = "."  # relative to the configuration file, inside the repository
    file: str | None = None  # the Dockerfile, relative to the context (None: Dockerfile)
    target: str | None = None
    tags: tuple[str, ...] = ()  # besides the commit SHA
    build_args: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    network: str | None = None  # docker build --network (e.g. host)
    registry: RegistryLoginConfig | None = None  # None: CI_REGISTRY_* / ghcr.io token


@dataclass(frozen=True)
class ScanConfig:
    """How ``ci-deploy scan`` judges an image (docs/build-and-scan.md)."""

    severity: tuple[str, ...] = ("HIGH", "CRITICAL")
    ignore_unfixed: bool = False
    ignore_file: str | None = None  # None: .trivyignore beside the configuration, if any
    scanners: tuple[str, ...] = ("vuln", "secret")
    timeout: Duration = field(default_factory=lambda: Duration(600.0, "10m"))


@dataclass(frozen=True)
class MigrationsConfig:
    """How database migrations run (thin: filled by a later issue)."""

    command: str | None = None
    tool: str | None = None
    timeout: Duration = field(default_factory=lambda: Duration(600.0, "10m"))


@dataclass(frozen=True)
class Resources:
    """Container resources as Kubernetes quantities (used as requests and limits)."""

    cpu: str | None = None
    memory: str | None = None


@dataclass(frozen=True)
class EnvironmentConfig:
    """One environment, effective: defaults merged with the environment's own block."""

    name: str
    namespace: str
    cluster: str | None = None
    replicas: int = 1
    resources: Resources = Resources()
    log_level: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    external_services: dict[str, str] = field(default_factory=dict)
    database: str | None = None
    url: str | None = None
    strategy: StrategyName = "rolling"
    create_namespace: bool = False  # real clusters often forbid it: only when asked
    protected: bool = False  # tag-less and :latest images are refused
    manifests: ManifestSource | None = None  # its own source, replacing the app's

    @property
    def url_host(self) -> str | None:
        """The host of the environment's URL: the Ingress / HTTPRoute host of that environment."""
        if self.url is None:
            return None
        from urllib.parse import urlsplit

        return urlsplit(self.url).hostname


@dataclass(frozen=True)
class Config:
    """A whole, validated ``ci-deploy.yml``."""

    source: str
    app: str
    image: ImageConfig
    environments: dict[str, EnvironmentConfig]  # effective, in file order
    strategy: StrategyName = "rolling"  # the default when an environment names none
    manifests: ManifestsConfig = ManifestsConfig()
    rolling: RollingConfig = RollingConfig()
    canary: CanaryConfig | None = None
    blue_green: BlueGreenConfig | None = None
    analysis: AnalysisConfig = AnalysisConfig()
    notifications: NotificationsConfig = NotificationsConfig()
    migrations: MigrationsConfig | None = None
    # None: the file has no build:/scan: section (the verbs then use the defaults, and a
    # rendered pipeline has no build/scan jobs: the image is built elsewhere).
    build: BuildConfig | None = None
    scan: ScanConfig | None = None

    @property
    def primary(self) -> str:
        """The name of the app's primary Deployment (``manifests.primary``, else ``app``)."""
        return self.manifests.primary or self.app

    def manifests_for(self, env: EnvironmentConfig) -> ManifestsConfig:
        """The manifests settings of ``env``: the app's, with the environment's own source
        (``environments.<env>.manifests``) in place of the app's when it has one."""
        own = env.manifests
        if own is None:
            return self.manifests
        from dataclasses import replace

        templates = (Path(self.source).parent / own.templates).resolve() if own.templates else None
        return replace(
            self.manifests,
            templates=templates,
            files=own.files,
            kustomize=own.kustomize,
            helm=own.helm,
        )

    def metric_triggers(self, strategy: str) -> tuple[Trigger, ...]:
        """The rollback triggers that are metric rules (the manual trigger measures nothing)
        where ``strategy`` runs: ``blue_green.rollback_triggers`` on blue-green,
        ``canary.rollback_triggers`` elsewhere."""
        block = self.blue_green if strategy == "blue_green" else self.canary
        triggers = block.rollback_triggers if block is not None else ()
        return tuple(t for t in triggers if t.threshold is not None and not t.manual)

    def verifiable(self, env: EnvironmentConfig) -> bool:
        """Whether ``ci-deploy verify`` has anything to check in ``env``: smoke checks, or
        rollback triggers that are metric rules."""
        return bool(self.analysis.smoke or self.metric_triggers(env.strategy))

    @staticmethod
    def triggers_key(strategy: str) -> str:
        """Where ``metric_triggers`` come from, for messages."""
        block = "blue_green" if strategy == "blue_green" else "canary"
        return f"{block}.rollback_triggers"

    @property
    def environment_names(self) -> list[str]:
        """Environment names in the order of the file."""
        return list(self.environments)

    def environment(self, name: str) -> EnvironmentConfig:
        """The effective environment ``name``; an unknown name is a UserInputError (exit 2)."""
        found = self.environments.get(name)
        if found is not None:
            return found
        raise UserInputError(unknown_environment_message(name, self.environment_names, self.source))


def unknown_environment_message(name: str, known: list[str], source: str) -> str:
    """``unknown environment 'prod' in ci-deploy.yml (did you mean 'production'?); known: …``."""
    import difflib

    close = [k for k in known if k.startswith(name) or name.startswith(k)]
    close = close or difflib.get_close_matches(name, known, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    listed = ", ".join(known) if known else "none defined"
    return f"unknown environment '{name}' in {source}{hint}; known environments: {listed}"
