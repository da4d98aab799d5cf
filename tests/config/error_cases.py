"""Broken configurations and the exact message each produces (data for tests and the issue note).

Each case is a ``ci-deploy.yml`` text, the CLI arguments, and the exact text ci-deploy prints
on stderr (exit code 2). ``tests/config/test_error_cases.py`` runs every case through the real
CLI; ``python -m tests.config.error_cases`` prints the table as Markdown.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

HEAD = """\
app: shop
image:
  repository: registry.example.com/acme/shop
"""

STAGING = """\
environments:
  staging:
    replicas: 2
"""


def config(body: str) -> str:
    """A file with app and image, then ``body`` (dedented)."""
    return HEAD + textwrap.dedent(body)


def canary(stages: str, extra: str = "") -> str:
    """A file with one environment and a canary section made of ``stages``, then ``extra``
    (verbatim)."""
    listed = textwrap.indent(textwrap.dedent(stages), "    ")
    return HEAD + STAGING + "canary:\n  stages:\n" + listed + extra


SECRET_HINT = (
    "secrets are never written in the configuration: store the value as a CI secret and give"
    " the name of the environment variable holding it as"
)
DNS_LABEL = (
    "a DNS-1123 label (lowercase letters, digits and '-', starting and ending with a letter or"
    " digit, at most 63 characters)"
)
DURATION = "a duration (a number with a unit: 500ms, 90s, 15m, 2h, 1h30m)"
THRESHOLD = (
    "a threshold (an operator (<, <=, >, >=) and a number with optional unit %, ms or s:"
    " '< 0.1%', '<= 500ms', '> 90%', '< 1000')"
)
QUANTITY = "a Kubernetes quantity such as 250m, 0.5, 1, 128Mi, 1Gi"
LOG_LEVELS = "trace, debug, info, warn, warning, error, fatal, critical"


@dataclass(frozen=True)
class Case:
    """One broken input: what is wrong, the file, the exact stderr, the CLI arguments."""

    id: str
    what: str
    yaml: str
    expected: str
    args: tuple[str, ...] = ("config", "validate")


CASES: list[Case] = [
    Case(
        "yaml-syntax",
        "YAML syntax: unclosed quote",
        config("""\
            environments:
              staging:
                log_level: "info
            """),
        "error: ci-deploy.yml:7:1: invalid YAML: found unexpected end of stream"
        " (while scanning a quoted scalar that starts at line 6, column 16)",
    ),
    Case(
        "yaml-indentation",
        "YAML syntax: bad indentation",
        config("""\
            environments:
              staging:
                replicas: 2
               log_level: info
            """),
        "error: ci-deploy.yml:7:4: invalid YAML: did not find expected key"
        " (while parsing a block mapping that starts at line 5, column 3)",
    ),
    Case(
        "duplicate-key",
        "the same key twice",
        config("""\
            environments:
              staging:
                replicas: 2
                replicas: 3
            """),
        "error: ci-deploy.yml:7:5: environments.staging.replicas: duplicate key"
        " (first defined on line 6)",
    ),
    Case(
        "empty-file",
        "an empty file",
        "",
        "error: ci-deploy.yml: the file is empty; expected a mapping with app, image and"
        " environments",
    ),
    Case(
        "not-a-mapping",
        "a list instead of a mapping",
        "- app: shop\n",
        "error: ci-deploy.yml:1:1: expected a mapping (ci-deploy configuration), found a list",
    ),
    Case(
        "missing-app",
        "required key missing",
        "image:\n  repository: registry.example.com/acme/shop\n" + STAGING,
        "error: ci-deploy.yml:1:1: missing required key 'app': application name"
        " (Deployment name, labels)",
    ),
    Case(
        "app-not-dns",
        "app name with capitals and '_'",
        HEAD.replace("shop", "Web_Shop", 1) + STAGING,
        f"error: ci-deploy.yml:1:6: app: expected an app name: {DNS_LABEL},"
        " found a string ('Web_Shop')",
    ),
    Case(
        "image-with-tag",
        "image repository with a tag",
        HEAD.replace("acme/shop", "acme/shop:1.2.3") + STAGING,
        "error: ci-deploy.yml:3:15: image.repository: expected an image repository without tag"
        " or digest (the tag is given with each deploy, e.g. --image), found a string"
        " ('registry.example.com/acme/shop:1.2.3')",
    ),
    Case(
        "unknown-top-key",
        "misspelt top-level key",
        config("""\
            enviroments:
              staging:
                replicas: 2
            """),
        "error: ci-deploy.yml:4:1: enviroments: unknown key 'enviroments'"
        " (did you mean 'environments'?)",
    ),
    Case(
        "unknown-key-no-match",
        "unknown key unlike any known one",
        config(STAGING + "colour: blue\n"),
        "error: ci-deploy.yml:7:1: colour: unknown key 'colour'; expected one of: app, image,"
        " strategy, manifests, defaults, environments, rolling, canary, blue_green, analysis,"
        " notifications, build, scan, migrations",
    ),
    Case(
        "unknown-env-key",
        "misspelt environment key",
        config("""\
            environments:
              staging:
                replica: 2
            """),
        "error: ci-deploy.yml:6:5: environments.staging.replica: unknown key 'replica'"
        " (did you mean 'replicas'?)",
    ),
    Case(
        "replicas-bool",
        "replicas: true",
        config("""\
            environments:
              staging:
                replicas: true
            """),
        "error: ci-deploy.yml:6:15: environments.staging.replicas: expected an integer of at"
        " least 0, found a boolean (true)",
    ),
    Case(
        "replicas-string",
        'replicas: "3"',
        config("""\
            environments:
              staging:
                replicas: "3"
            """),
        "error: ci-deploy.yml:6:15: environments.staging.replicas: expected an integer of at"
        " least 0, found a string ('3'); remove the quotes",
    ),
    Case(
        "replicas-negative",
        "replicas: -1",
        config("""\
            environments:
              staging:
                replicas: -1
            """),
        "error: ci-deploy.yml:6:15: environments.staging.replicas: expected an integer of at"
        " least 0, found an integer (-1)",
    ),
    Case(
        "no-environments",
        "empty environments mapping",
        config("environments: {}\n"),
        "error: ci-deploy.yml:4:15: environments: expected a mapping of environment name to"
        " settings with at least one entry, found an empty mapping",
    ),
    Case(
        "env-name-not-dns",
        "environment name with '_' and capitals",
        config("""\
            environments:
              Prod_EU:
                replicas: 2
            """),
        f"error: ci-deploy.yml:5:3: environments.Prod_EU: expected an environment name:"
        f" {DNS_LABEL}, found a string ('Prod_EU')",
    ),
    Case(
        "namespace-invalid",
        "namespace with a space",
        config("""\
            environments:
              staging:
                namespace: shop staging
            """),
        f"error: ci-deploy.yml:6:16: environments.staging.namespace: expected a namespace:"
        f" {DNS_LABEL}, found a string ('shop staging')",
    ),
    Case(
        "instance-too-long",
        "<app>-<environment> over 63 characters",
        config("environments:\n  " + "e" * 60 + ": {}\n"),
        "error: ci-deploy.yml:5:3: environments." + "e" * 60 + ": expected app name + '-' +"
        " environment name to fit in 63 characters (it names the default namespace and labels"
        " every object), found 65 characters; shorten the environment name",
    ),
    Case(
        "cpu-invalid",
        "cpu: lots",
        config("""\
            environments:
              staging:
                resources:
                  cpu: lots
                  memory: 256Mi
            """),
        f"error: ci-deploy.yml:7:12: environments.staging.resources.cpu: expected {QUANTITY},"
        " found a string ('lots')",
    ),
    Case(
        "memory-unit",
        "memory: 256MB (not a Kubernetes unit)",
        config("""\
            environments:
              staging:
                resources:
                  memory: 256MB
            """),
        f"error: ci-deploy.yml:7:15: environments.staging.resources.memory: expected"
        f" {QUANTITY}, found a string ('256MB')",
    ),
    Case(
        "env-var-name",
        "environment variable name starting with a digit",
        config("""\
            environments:
              staging:
                env:
                  1ST_RUN: "yes"
            """),
        "error: ci-deploy.yml:7:7: environments.staging.env.1ST_RUN: expected an environment"
        " variable name (letters, digits, '_', not starting with a digit), found a string"
        " ('1ST_RUN')",
    ),
    Case(
        "env-var-bool",
        "unquoted boolean environment variable value",
        config("""\
            environments:
              staging:
                env:
                  DEBUG: true
            """),
        "error: ci-deploy.yml:7:14: environments.staging.env.DEBUG: expected a string, found a"
        ' boolean (true); quote it: "true"',
    ),
    Case(
        "log-level",
        "unknown log level",
        config("""\
            environments:
              staging:
                log_level: verbose
            """),
        f"error: ci-deploy.yml:6:16: environments.staging.log_level: expected one of"
        f" {LOG_LEVELS}, found a string ('verbose')",
    ),
    Case(
        "url-no-scheme",
        "environment URL without scheme",
        config("""\
            environments:
              staging:
                url: staging.example.com
            """),
        "error: ci-deploy.yml:6:10: environments.staging.url: expected an http:// or https://"
        " URL, found a string ('staging.example.com')",
    ),
    Case(
        "strategy-unknown",
        "unknown strategy",
        config("""\
            environments:
              staging:
                strategy: recreate
            """),
        "error: ci-deploy.yml:6:15: environments.staging.strategy: expected one of rolling,"
        " blue_green, canary, found a string ('recreate')",
    ),
    Case(
        "strategy-not-configured",
        "canary override without a canary block",
        config("""\
            environments:
              production:
                strategy: canary
            """),
        "error: ci-deploy.yml:6:15: environments.production.strategy: expected a configured"
        " strategy, found 'canary' but there is no top-level 'canary:' (or"
        " 'canary_deployment:') section; add one or use 'rolling'",
    ),
    Case(
        "duration-words",
        'duration: "15 minutes"',
        canary("""\
            - name: all
              traffic_percentage: 100
              duration: "15 minutes"
            """),
        f"error: ci-deploy.yml:11:17: canary.stages[0].duration: expected {DURATION}, found a"
        " string ('15 minutes')",
    ),
    Case(
        "duration-negative",
        'duration: "-5m"',
        canary("""\
            - name: all
              traffic_percentage: 100
              duration: "-5m"
            """),
        "error: ci-deploy.yml:11:17: canary.stages[0].duration: expected a duration that is not"
        " negative (a number with a unit: 500ms, 90s, 15m, 2h, 1h30m), found a string ('-5m')",
    ),
    Case(
        "duration-bare-number",
        "duration: 15 (no unit)",
        canary("""\
            - name: all
              traffic_percentage: 100
              duration: 15
            """),
        f"error: ci-deploy.yml:11:17: canary.stages[0].duration: expected {DURATION}, found an"
        " integer (15): add a unit, e.g. '15s' or '15m'",
    ),
    Case(
        "threshold-double-op",
        'error_rate: "<< 0.1"',
        canary("""\
            - name: all
              traffic_percentage: 100
              success_criteria:
                error_rate: "<< 0.1"
            """),
        f"error: ci-deploy.yml:12:21: canary.stages[0].success_criteria.error_rate: expected"
        f" {THRESHOLD}, found a string ('<< 0.1')",
    ),
    Case(
        "threshold-no-op",
        'error_rate: "0.1%" (no operator)',
        canary("""\
            - name: all
              traffic_percentage: 100
              success_criteria:
                error_rate: "0.1%"
            """),
        "error: ci-deploy.yml:12:21: canary.stages[0].success_criteria.error_rate: expected a"
        " threshold starting with an operator (<, <=, >, >=), found a string ('0.1%'); write"
        " e.g. '< 0.1%'",
    ),
    Case(
        "threshold-not-number",
        'cpu_usage: "< abc"',
        canary("""\
            - name: all
              traffic_percentage: 100
              success_criteria:
                cpu_usage: "< abc"
            """),
        f"error: ci-deploy.yml:12:20: canary.stages[0].success_criteria.cpu_usage: expected"
        f" {THRESHOLD}, found a string ('< abc')",
    ),
    Case(
        "threshold-over-100",
        'cpu_usage: "> 120%"',
        canary("""\
            - name: all
              traffic_percentage: 100
              success_criteria:
                cpu_usage: "> 120%"
            """),
        "error: ci-deploy.yml:12:20: canary.stages[0].success_criteria.cpu_usage: expected a"
        " threshold with a percentage from 0 to 100, found a string ('> 120%')",
    ),
    Case(
        "criteria-as-list",
        "success_criteria written as a list",
        canary("""\
            - name: all
              traffic_percentage: 100
              success_criteria:
                - error_rate: "< 1%"
            """),
        "error: ci-deploy.yml:12:9: canary.stages[0].success_criteria: expected a mapping of"
        " metric to threshold, found a list",
    ),
    Case(
        "traffic-over-100",
        "traffic_percentage: 150",
        canary("""\
            - name: all
              traffic_percentage: 150
            """),
        "error: ci-deploy.yml:10:27: canary.stages[0].traffic_percentage: expected a percentage"
        " from 0 to 100, found an integer (150)",
    ),
    Case(
        "traffic-negative",
        "traffic_percentage: -5",
        canary("""\
            - name: first
              traffic_percentage: -5
            - name: all
              traffic_percentage: 100
            """),
        "error: ci-deploy.yml:10:27: canary.stages[0].traffic_percentage: expected a percentage"
        " from 0 to 100, found an integer (-5)",
    ),
    Case(
        "stages-not-increasing",
        "stage traffic going down",
        canary("""\
            - name: a
              traffic_percentage: 25
            - name: b
              traffic_percentage: 10
            - name: c
              traffic_percentage: 100
            """),
        "error: ci-deploy.yml:12:27: canary.stages[1].traffic_percentage: expected more than 25"
        " (stages must increase traffic; previous stage 'a'), found 10",
    ),
    Case(
        "stages-not-ending-at-100",
        "last stage below 100",
        canary("""\
            - name: a
              traffic_percentage: 5
            - name: b
              traffic_percentage: 75
            """),
        "error: ci-deploy.yml:12:27: canary.stages[1].traffic_percentage: expected the last"
        " stage to send 100% of traffic, found 75",
    ),
    Case(
        "stage-names-duplicate",
        "two stages with one name",
        canary("""\
            - name: step
              traffic_percentage: 50
            - name: step
              traffic_percentage: 100
            """),
        "error: ci-deploy.yml:11:13: canary.stages[1].name: expected a unique stage name, found"
        " 'step', already used by stages[0]",
    ),
    Case(
        "stage-missing-name",
        "stage without name",
        canary("""\
            - traffic_percentage: 100
            """),
        "error: ci-deploy.yml:9:7: canary.stages[0]: missing required key 'name': stage name,"
        " unique",
    ),
    Case(
        "canary-twice",
        "canary and canary_deployment both present",
        canary(
            """\
            - name: all
              traffic_percentage: 100
            """,
            "canary_deployment:\n  stages:\n    - name: all\n      traffic_percentage: 100\n",
        ),
        "error: ci-deploy.yml:11:1: canary_deployment: 'canary_deployment' and 'canary' are the"
        " same setting; keep only one",
    ),
    Case(
        "trigger-bad",
        "rollback trigger without operator; manual_trigger as a string",
        canary(
            """\
            - name: all
              traffic_percentage: 100
            """,
            '  rollback_triggers:\n    - error_rate: "0.5%"\n    - manual_trigger: "yes"\n',
        ),
        "error: ci-deploy.yml:12:19: canary.rollback_triggers[0].error_rate: expected a"
        " threshold starting with an operator (<, <=, >, >=), found a string ('0.5%'); write"
        " e.g. '< 0.5%'\n"
        "error: ci-deploy.yml:13:23: canary.rollback_triggers[1].manual_trigger: expected true"
        " or false, found a string ('yes')",
    ),
    Case(
        "router-without-route",
        "gateway-api traffic router without manifests.http_route",
        canary(
            """\
            - name: all
              traffic_percentage: 100
            """,
            "  traffic_router: gateway-api\n",
        ),
        "error: ci-deploy.yml:11:19: canary.traffic_router: expected 'manifests.http_route' to"
        " be configured for traffic_router 'gateway-api' (the HTTPRoute carries the traffic"
        " weights), found none; add it or use traffic_router: replicas",
    ),
    Case(
        "max-surge",
        'max_surge: "150%"',
        config(STAGING + "rolling:\n  max_surge: 150%\n"),
        "error: ci-deploy.yml:8:14: rolling.max_surge: expected a percentage from 0 to 100,"
        " found a string ('150%')",
    ),
    Case(
        "progress-deadline",
        "progress_deadline: 600 (no unit)",
        config(STAGING + "rolling:\n  progress_deadline: 600\n"),
        f"error: ci-deploy.yml:8:22: rolling.progress_deadline: expected {DURATION}, found an"
        " integer (600): add a unit, e.g. '600s' or '600m'",
    ),
    Case(
        "hpa-bounds",
        "hpa max below min",
        config(STAGING + "manifests:\n  hpa:\n    min_replicas: 4\n    max_replicas: 2\n"),
        "error: ci-deploy.yml:10:19: manifests.hpa.max_replicas: expected at least min_replicas"
        " (4), found 2",
    ),
    Case(
        "templates-missing",
        "templates folder that does not exist",
        config(STAGING + "manifests:\n  templates: k8s/\n"),
        "error: ci-deploy.yml:8:14: manifests.templates: expected a folder of templates"
        " (relative to the configuration file), found 'k8s/', which does not exist",
    ),
    Case(
        "blue-green-color",
        "blue_green color other than blue/green",
        config(STAGING + "blue_green:\n  environments:\n    red:\n      cluster: prod-red\n"),
        "error: ci-deploy.yml:9:5: blue_green.environments.red: expected blue or green, found a"
        " string ('red')",
    ),
    Case(
        "slack-inline-secret",
        "Slack webhook URL written inline",
        config(
            STAGING
            + "notifications:\n  slack:\n"
            + "    webhook_url: https://hooks.slack.com/services/T000/B000/XXXX\n"
        ),
        f"error: ci-deploy.yml:9:5: notifications.slack.webhook_url: {SECRET_HINT}"
        " 'webhook_url_env: NAME'",
    ),
    Case(
        "slack-env-is-url",
        "webhook_url_env given a URL",
        config(
            STAGING
            + "notifications:\n  slack:\n"
            + "    webhook_url_env: https://hooks.slack.com/services/T000/B000/XXXX\n"
        ),
        "error: ci-deploy.yml:9:22: notifications.slack.webhook_url_env: expected the name of"
        " an environment variable holding the secret (e.g. SLACK_WEBHOOK), found a literal URL;"
        " secrets never go in the configuration: store it as a CI secret and name its variable"
        " here",
    ),
    Case(
        "pagerduty-inline-key",
        "PagerDuty routing key written inline",
        config(STAGING + "notifications:\n  pagerduty:\n    routing_key: R0UT1NGK3Y\n"),
        f"error: ci-deploy.yml:9:5: notifications.pagerduty.routing_key: {SECRET_HINT}"
        " 'routing_key_env: NAME'",
    ),
    Case(
        "github-enabled-type",
        'github.enabled: "on" (a string)',
        config(STAGING + 'notifications:\n  github:\n    enabled: "on"\n'),
        "error: ci-deploy.yml:9:14: notifications.github.enabled: expected true or false,"
        " found a string ('on')",
    ),
    Case(
        "slack-no-destination",
        "Slack with neither a webhook nor a bot token",
        config(STAGING + "notifications:\n  slack:\n    channel: '#deploys'\n"),
        "error: ci-deploy.yml:9:5: notifications.slack: expected webhook_url_env (a message per"
        " event) or bot_token_env and channel (one message per rollout, updated in place),"
        " found neither",
    ),
    Case(
        "prometheus-address",
        "Prometheus address without scheme",
        config(STAGING + "analysis:\n  prometheus:\n    address: prometheus:9090\n"),
        "error: ci-deploy.yml:9:14: analysis.prometheus.address: expected an http:// or"
        " https:// URL, found a string ('prometheus:9090')",
    ),
    Case(
        "migrations-unknown",
        "unknown migrations key",
        config(STAGING + "migrations:\n  comand: alembic upgrade head\n"),
        "error: ci-deploy.yml:8:3: migrations.comand: unknown key 'comand'"
        " (did you mean 'command'?)",
    ),
    Case(
        "many-problems",
        "three problems in one file, reported together",
        config("""\
            environments:
              staging:
                replicas: two
                log_level: loud
              prod:
                namespce: x
            """),
        "error: ci-deploy.yml:6:15: environments.staging.replicas: expected an integer of at"
        " least 0, found a string ('two')\n"
        f"error: ci-deploy.yml:7:16: environments.staging.log_level: expected one of"
        f" {LOG_LEVELS}, found a string ('loud')\n"
        "error: ci-deploy.yml:9:5: environments.prod.namespce: unknown key 'namespce'"
        " (did you mean 'namespace'?)",
    ),
    Case(
        "unknown-env-arg",
        "config show --env for an environment not in the file",
        config("""\
            environments:
              staging: {}
              production: {}
            """),
        "error: unknown environment 'prod' in ci-deploy.yml (did you mean 'production'?);"
        " known environments: staging, production",
        ("config", "show", "--env", "prod"),
    ),
    Case(
        "missing-file",
        "no configuration file",
        "",
        "error: missing.yml: file not found\n"
        "  hint: pass the configuration with -c/--config or create ci-deploy.yml",
        ("-c", "missing.yml", "config", "validate"),
    ),
]


@dataclass(frozen=True)
class Outcome:
    """What the CLI did: exit code, stdout, stderr."""

    exit_code: int
    stdout: str
    stderr: str


@contextlib.contextmanager
def _inside(directory: Path) -> Iterator[None]:
    before = Path.cwd()
    os.chdir(directory)
    try:
        yield
    finally:
        os.chdir(before)


def run_cli(args: tuple[str, ...], directory: Path) -> Outcome:
    """Run ``ci_deploy.cli.main`` in-process inside ``directory``; capture output and exit."""
    from ci_deploy.cli import main

    out, err = io.StringIO(), io.StringIO()
    code = 0
    with _inside(directory), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(list(args))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    return Outcome(code, out.getvalue(), err.getvalue())


def run_case(case: Case, directory: Path) -> Outcome:
    """Write the case's ``ci-deploy.yml`` into ``directory`` (unless it is the missing-file
    case) and run the CLI there."""
    if "-c" not in case.args:
        (directory / "ci-deploy.yml").write_text(case.yaml, encoding="utf-8")
    return run_cli(case.args, directory)


def markdown_table() -> str:
    """The cases and the exact messages the CLI prints today, as a Markdown table."""
    rows = ["| case | what is wrong | exact message (stderr, exit 2) |", "|---|---|---|"]
    for case in CASES:
        with tempfile.TemporaryDirectory() as tmp:
            outcome = run_case(case, Path(tmp))
        lines = outcome.stderr.strip().replace("|", "\\|").splitlines()
        message = "<br>".join(f"`{line}`" for line in lines)
        what = case.what.replace("|", "\\|")
        rows.append(f"| `{case.id}` | {what} | exit {outcome.exit_code}: {message} |")
    return "\n".join(rows)


if __name__ == "__main__":
    sys.stdout.write(markdown_table() + "\n")
