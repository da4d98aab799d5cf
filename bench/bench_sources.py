"""Render time of a 50-object app through each manifest source, and plan time of a 200-object
app against the sandbox, each beside its peer on the same input.

Sources (in-process ``render_objects``: the source's tool, parsing, stamping, image
substitution and schema validation): plain files, a Jinja template folder, Kustomize (beside
``kubectl kustomize`` of the same folder) and Helm (beside ``helm template`` of the same chart).
Plan: ``ci-deploy plan`` of 200 objects (a Deployment and 199 ConfigMaps, all applied once
before) against the sandbox over TLS, beside ``kubectl diff --server-side`` of the same objects
(the same reads and server-side dry runs, one request per object).

    PATH=.venv/bin:$PATH .venv/bin/python bench/bench_sources.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPOSITORY = "registry.example.com/acme/web-app"
NAMESPACE = "bench"
DEPLOYMENT = f"""\
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web-app}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: web-app}}}}
  template:
    metadata: {{labels: {{app: web-app}}}}
    spec:
      containers: [{{name: app, image: "{REPOSITORY}:1"}}]
"""
JINJA_CONFIGMAP = (
    "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm-{{ i }}}\ndata: {key: v{{ i }}}\n"
)
CONFIGMAP = "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: cm-{i}}}\ndata: {{key: v{i}}}\n"


def objects_yaml(count: int) -> str:
    docs = [DEPLOYMENT] + [CONFIGMAP.format(i=i) for i in range(count - 1)]
    return "---\n".join(docs)


def config(manifests: str) -> str:
    return (
        f"app: web-app\nimage: {{repository: {REPOSITORY}}}\nmanifests:\n  {manifests}\n"
        f"environments:\n  staging: {{namespace: {NAMESPACE}, create_namespace: true}}\n"
    )


def make_sources(root: Path, count: int) -> dict[str, Path]:
    """One repository per source, each rendering the same ``count`` objects."""
    text = objects_yaml(count)
    repos: dict[str, Path] = {}
    plain = root / "files"
    (plain / "deploy").mkdir(parents=True)
    (plain / "deploy" / "all.yaml").write_text(text)
    (plain / "ci-deploy.yml").write_text(config('files: ["deploy/*.yaml"]'))
    repos["files"] = plain
    jinja = root / "templates"
    (jinja / "t").mkdir(parents=True)
    loop = "{% for i in range(" + str(count - 1) + ") %}---\n" + JINJA_CONFIGMAP + "{% endfor %}"
    (jinja / "t" / "all.yaml.j2").write_text(DEPLOYMENT + loop)
    (jinja / "ci-deploy.yml").write_text(config("templates: t"))
    repos["templates"] = jinja
    kustomize = root / "kustomize"
    (kustomize / "k").mkdir(parents=True)
    (kustomize / "k" / "all.yaml").write_text(text)
    (kustomize / "k" / "kustomization.yaml").write_text("resources: [all.yaml]\n")
    (kustomize / "ci-deploy.yml").write_text(config("kustomize: k"))
    repos["kustomize"] = kustomize
    helm = root / "helm"
    (helm / "chart" / "templates").mkdir(parents=True)
    (helm / "chart" / "Chart.yaml").write_text("apiVersion: v2\nname: web-app\nversion: 0.1.0\n")
    (helm / "chart" / "templates" / "all.yaml").write_text(text)  # no {{ }}: Helm renders it as is
    (helm / "ci-deploy.yml").write_text(config("helm: {chart: chart}"))
    repos["helm"] = helm
    return repos


def median_ms(fn: Callable[[], object], runs: int) -> float:
    fn()  # warm: imports, schema cache, file cache
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def render_figures(root: Path, count: int, runs: int) -> None:
    from ci_deploy.config import load_config
    from ci_deploy.render import render_objects

    repos = make_sources(root, count)
    peers = {
        "kustomize": ["kubectl", "kustomize", "k"],
        "helm": ["helm", "template", "web-app", "chart", "--namespace", NAMESPACE],
    }
    print(f"render of {count} objects (in-process render_objects, median of {runs}):")
    for name, repo in repos.items():
        os.chdir(repo)

        def render(repo: Path = repo) -> int:
            return len(render_objects(load_config(repo / "ci-deploy.yml"), "staging", ":2"))

        assert render() == count, name
        ours = median_ms(render, runs)
        line = f"  {name:10} {ours:7.1f} ms"
        if name in peers:
            argv = peers[name]
            peer = median_ms(
                lambda argv=argv: subprocess.run(argv, check=True, capture_output=True), runs
            )
            line += (
                f"   {' '.join(argv[:2]):16} alone {peer:6.1f} ms (ci-deploy {ours / peer:.2f}x)"
            )
        print(line)


def plan_figures(root: Path, count: int, runs: int) -> None:
    from kube_sandbox.testing import running_sandbox

    repo = make_sources(root / "plan", count)["files"]
    with running_sandbox(root / "sandbox", pod_ready_delay=0.05) as sb:
        env = {**os.environ, "KUBECONFIG": str(sb.kubeconfig)}
        env = {k: v for k, v in env.items() if not k.startswith(("CI_", "GITHUB_"))}
        ci = [sys.executable, "-m", "ci_deploy"]
        subprocess.run([*ci, "deploy", "--env", "staging", "--image", ":1"], cwd=repo, env=env,
                       check=True, capture_output=True)  # fmt: skip
        # Both see the same objects ci-deploy applies (namespace and labels set).
        render = [*ci, "render", "manifests", "--env", "staging", "--image", ":2"]
        rendered = subprocess.run(
            render, cwd=repo, env=env, check=True, capture_output=True, text=True
        )
        manifest = root / "rendered.yaml"
        manifest.write_text(rendered.stdout)
        plan = [*ci, "plan", "--env", "staging", "--image", ":2"]
        diff = [
            "kubectl",
            "diff",
            "--server-side",
            "--field-manager",
            "ci-deploy",
            "--force-conflicts",
            "-f",
            str(manifest),
        ]

        def run_plan() -> None:
            subprocess.run(plan, cwd=repo, env=env, check=True, capture_output=True)

        def run_diff() -> None:
            done = subprocess.run(diff, env=env, capture_output=True)
            assert done.returncode in (0, 1), done.stderr  # 1: differences found

        ours = median_ms(run_plan, runs)
        peer = median_ms(run_diff, runs)
        print(f"plan of {count} objects against the sandbox (subprocess wall, median of {runs}):")
        print(f"  ci-deploy plan {ours:7.0f} ms   kubectl diff --server-side {peer:6.0f} ms "
              f"(ci-deploy {ours / peer:.2f}x)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-sources-") as tmp:
        render_figures(Path(tmp), 50, args.runs)
        plan_figures(Path(tmp), 200, args.runs)


if __name__ == "__main__":
    main()
