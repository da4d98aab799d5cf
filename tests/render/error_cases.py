"""Broken templates and manifests, each with the exact message ci-deploy prints for it.

The data table behind tests/render/test_error_cases.py and behind the README's error table:
``python -m tests.render.error_cases`` prints it as markdown (run from the repository root);
``markdown_table()`` / ``rows()`` give it to other scripts.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ci_deploy.config import load_config
from ci_deploy.errors import CiDeployError
from ci_deploy.render import render_manifests

CONFIG = """\
app: web-app
image:
  repository: registry.example.com/acme/web-app
manifests:
  templates: templates
environments:
  staging:
    namespace: web-app-staging
    replicas: 2
"""
DEPLOYMENT = '{% include "builtin/deployment.yaml.j2" %}\n'


@dataclass(frozen=True)
class ErrorCase:
    """One broken input: the template files written, and the message expected (exit 2)."""

    id: str
    what: str  # the table's first column
    files: dict[str, str]
    message: str
    image: str | None = "registry.example.com/acme/web-app:1.2.3"
    config: str = CONFIG
    extra: dict[str, str] = field(default_factory=dict)  # files outside templates/


def _with_deployment(name: str, text: str) -> dict[str, str]:
    return {"deployment.yaml.j2": DEPLOYMENT, name: text}


CASES: list[ErrorCase] = [
    ErrorCase(
        "jinja-syntax",
        "Jinja syntax error (unclosed `{% if %}`)",
        _with_deployment("config.yaml.j2", "a: 1\n{% if env.replicas > 1 %}\nb: 2\n"),
        "error: templates/config.yaml.j2:3: template syntax error: Unexpected end of template. "
        "Jinja was looking for the following tags: 'elif' or 'else' or 'endif'. "
        "The innermost block that needs to be closed is 'if'.",
    ),
    ErrorCase(
        "undefined-variable",
        "undefined template variable",
        _with_deployment(
            "configmap.yaml.j2",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata:\n"
            "  image: {{ imgae }}\n",
        ),
        "error: templates/configmap.yaml.j2:6: undefined: 'imgae' is undefined "
        "(did you mean 'image'?)",
    ),
    ErrorCase(
        "undefined-attribute",
        "undefined attribute of the environment",
        _with_deployment(
            "configmap.yaml.j2",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata:\n"
            '  replicas: "{{ env.replcas }}"\n',
        ),
        "error: templates/configmap.yaml.j2:6: undefined: env has no attribute 'replcas'"
        " (did you mean 'replicas'?)",
    ),
    ErrorCase(
        "sandbox",
        "sandbox violation (`__class__`)",
        _with_deployment("evil.yaml.j2", "x: {{ app.__class__.__mro__ }}\n"),
        "error: templates/evil.yaml.j2:1: blocked by the template sandbox: access to attribute "
        "'__class__' of 'str' object is unsafe.",
    ),
    ErrorCase(
        "sandbox-path",
        "file access through a configuration path",
        _with_deployment("steal.yaml.j2", "x: {{ manifests.templates.read_text() }}\n"),
        "error: templates/steal.yaml.j2:1: blocked by the template sandbox: access to attribute "
        "'read_text' of 'PosixPath' object is unsafe.",
    ),
    ErrorCase(
        "sandbox-mutation",
        "changing a shared value (`labels.update`)",
        _with_deployment("mut.yaml.j2", "{% set _ = labels.update({'team': 'x'}) %}\nx: 1\n"),
        "error: templates/mut.yaml.j2:1: blocked by the template sandbox: access to attribute "
        "'update' of 'dict' object is unsafe.",
    ),
    ErrorCase(
        "runtime-exception",
        "template raises (division by zero)",
        _with_deployment("math.yaml.j2", "a: 1\nb: {{ env.replicas / 0 }}\n"),
        "error: templates/math.yaml.j2:2: template error: ZeroDivisionError: division by zero",
    ),
    ErrorCase(
        "missing-include",
        "include of a template that does not exist",
        _with_deployment("svc.yaml.j2", '# service\n{% include "builtin/servce.yaml.j2" %}\n'),
        "error: templates/svc.yaml.j2:2: template not found: builtin/servce.yaml.j2",
    ),
    ErrorCase(
        "rendered-yaml",
        "YAML error in the rendered output",
        _with_deployment(
            "configmap.yaml.j2",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata:\n"
            "  url: {{ env.name }}: x\n",
        ),
        "error: templates/configmap.yaml.j2 (rendered):6:15: invalid YAML: mapping values are "
        "not allowed in this context",
    ),
    ErrorCase(
        "missing-required",
        "Deployment without `spec.selector`",
        {
            "deployment.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web-app\n"
            "spec:\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n"
            "      containers:\n        - name: app\n          image: nginx:1.27\n",
        },
        "error: templates/deployment.yaml: document 1 (Deployment/web-app) spec: 'selector' is a "
        "required property (rendered line 6)",
    ),
    ErrorCase(
        "unknown-field",
        "unknown field (strict schema)",
        _with_deployment(
            "service.yaml",
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: web-app\nspec:\n"
            "  ports:\n    - port: 80\n      targetPort: http\n      protocl: TCP\n",
        ),
        "error: templates/service.yaml: document 1 (Service/web-app) spec.ports[0]: Additional "
        "properties are not allowed ('protocl' was unexpected) (rendered line 7)",
    ),
    ErrorCase(
        "wrong-type",
        "wrong type (`replicas: three`)",
        _with_deployment(
            "worker.yaml",
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: worker\n"
            "spec:\n  replicas: three\n  selector: {matchLabels: {app: worker}}\n  template:\n"
            "    metadata: {labels: {app: worker}}\n    spec:\n      containers:\n"
            "        - {name: worker, image: 'nginx:1.27'}\n",
        ),
        "error: templates/worker.yaml: document 1 (Deployment/worker) spec.replicas: 'three' is "
        "not of type 'integer', 'null' (rendered line 6)",
    ),
    ErrorCase(
        "unknown-kind",
        "custom resource without a schema",
        _with_deployment(
            "monitor.yaml",
            "apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata:\n"
            "  name: web-app\nspec:\n  endpoints: [{port: http}]\n",
        ),
        "error: templates/monitor.yaml: document 1 (ServiceMonitor/web-app): no schema for "
        "monitoring.coreos.com/v1 ServiceMonitor: ci-deploy validates the built-in kinds of "
        "Kubernetes 1.32 and gateway.networking.k8s.io/v1 HTTPRoute (--allow-unknown-kinds "
        "renders other kinds unvalidated) (rendered line 1)",
    ),
    ErrorCase(
        "duplicate",
        "the same object twice",
        {
            "deployment.yaml.j2": DEPLOYMENT,
            "services.yaml.j2": '{% include "builtin/service.yaml.j2" %}\n---\n'
            '{% include "builtin/service.yaml.j2" %}\n',
        },
        "error: templates/services.yaml.j2: document 2 (Service/web-app): duplicate object: "
        "Service/web-app is also defined in templates/services.yaml.j2 document 1 "
        "(rendered line 16)",
    ),
    ErrorCase(
        "namespace-conflict",
        "object in another namespace",
        _with_deployment(
            "configmap.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\n  namespace: default\n",
        ),
        "error: templates/configmap.yaml: document 1 (ConfigMap/cfg) metadata.namespace: is "
        "'default' but environment 'staging' deploys to namespace 'web-app-staging'; remove it "
        "(ci-deploy sets it) (rendered line 5)",
    ),
    ErrorCase(
        "cluster-scoped",
        "cluster-scoped kind (Namespace)",
        _with_deployment("ns.yaml", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: web\n"),
        "error: templates/ns.yaml: document 1 (Namespace/web): Namespace is cluster-scoped; "
        "ci-deploy manages namespaced objects of one environment only (create it outside "
        "ci-deploy) (rendered line 1)",
    ),
    ErrorCase(
        "missing-kind",
        "document without `kind`",
        _with_deployment("cm.yaml", "apiVersion: v1\nmetadata:\n  name: cfg\ndata: {a: b}\n"),
        "error: templates/cm.yaml: document 1: kind is missing; every object needs apiVersion "
        "and kind",
    ),
    ErrorCase(
        "label-conflict",
        "ownership label overridden",
        _with_deployment(
            "cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\n  labels:\n"
            "    app.kubernetes.io/managed-by: helm\n",
        ),
        "error: templates/cm.yaml: document 1 (ConfigMap/cfg) "
        "metadata.labels.app.kubernetes.io/managed-by: is 'helm', expected 'ci-deploy' "
        "(rendered line 6)",
    ),
    ErrorCase(
        "no-primary",
        "no Deployment named after the app",
        {"service.yaml.j2": '{% include "builtin/service.yaml.j2" %}\n'},
        "error: templates: no Deployment named 'web-app': ci-deploy rolls out the Deployment "
        "named after the app, or the one manifests.primary names (include "
        '"builtin/deployment.yaml.j2" to reuse the built-in one)',
    ),
    ErrorCase(
        "httproute",
        "HTTPRoute with a negative backend weight",
        _with_deployment(
            "route.yaml",
            "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata:\n"
            "  name: web-app\nspec:\n  parentRefs: [{name: public}]\n  rules:\n"
            "    - backendRefs:\n        - {name: web-app, port: 80, weight: -5}\n",
        ),
        "error: templates/route.yaml: document 1 (HTTPRoute/web-app) "
        "spec.rules[0].backendRefs[0].weight: -5 is less than the minimum of 0 "
        "(rendered line 9)",
    ),
    ErrorCase(
        "bad-image",
        "invalid `--image`",
        {"deployment.yaml.j2": DEPLOYMENT},
        "error: --image: 'Registry.example.com/App:1.0 ' is not a valid image reference "
        "(expected e.g. registry.example.com/team/app:1.2.3 or app@sha256:<digest>)",
        image="Registry.example.com/App:1.0 ",
    ),
    ErrorCase(
        "empty-folder",
        "templates folder without templates",
        {"README.md": "templates go here\n"},
        "error: ci-deploy.yml: manifests.templates: no templates (*.yaml, *.yml, *.yaml.j2, *.j2) "
        "in templates",
    ),
]


@contextmanager
def _inside(folder: Path) -> Iterator[None]:
    # Messages show paths relative to the working directory, as a user running ci-deploy
    # in their repository sees them.
    previous = Path.cwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(previous)


def run_case(case: ErrorCase, folder: Path) -> tuple[int, str]:
    """Write the case into ``folder``, render staging, return (exit code, message)."""
    (folder / "templates").mkdir(exist_ok=True)
    (folder / "ci-deploy.yml").write_text(case.config, encoding="utf-8")
    for name, text in case.files.items():
        (folder / "templates" / name).write_text(text, encoding="utf-8")
    with _inside(folder):
        try:
            render_manifests(load_config("ci-deploy.yml"), "staging", case.image)
        except CiDeployError as exc:
            return exc.exit_code, exc.render()
    return 0, ""


def rows() -> list[tuple[str, str]]:
    """(what is broken, exact message) for every case, by running it."""
    out = []
    for case in CASES:
        with tempfile.TemporaryDirectory() as folder:
            _, message = run_case(case, Path(folder))
        out.append((case.what, message))
    return out


def markdown_table() -> str:
    """The cases as a markdown table (messages in code spans)."""
    lines = ["| broken template / manifest | message (exit 2) |", "|---|---|"]
    for what, message in rows():
        shown = message.replace("|", "\\|").replace("\n", "<br>")
        lines.append(f"| {what} | `{shown}` |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown_table())
