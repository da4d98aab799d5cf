"""The GitLab template and component under gitlab-ci-local, deploying to a sandbox.

Jobs run in the shell executor with this checkout's `ci-deploy` first on PATH (the docker
executor always tries to pull; ENVIRONMENT.md §6). What gitlab-ci-local does not enforce
(resource_group, manual gates, environments) is asserted on the YAML itself.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.e2e.harness import (
    APP_IMAGE,
    CANARY_TIME_SCALE,
    E2E_CONFIG,
    EXAMPLE_CONFIG,
    EXAMPLE_PRODUCTION_NAMESPACE,
    ROOT,
    SANDBOX_CONTEXT,
    Run,
    assert_no_token,
    assert_schema_valid,
    deploy_outside_ci,
    deployment_names,
    example_production_with_stable,
    fake_gitlab_remote,
    git_repo,
    gitlab_dotenv,
    gitlab_result,
    live_status,
    run_gitlab_ci_local,
)

from kube_sandbox.testing import SandboxHandle

pytestmark = pytest.mark.e2e

TEMPLATE = ROOT / ".gitlab-ci-template.yml"
COMPONENT = ROOT / "templates" / "ci-deploy" / "template.yml"

INCLUDE_TEMPLATE = f"""\
include:
  - local: .gitlab-ci-template.yml
variables:
  CI_DEPLOY_IMAGE: {APP_IMAGE}:1.0.0
  CI_DEPLOY_TIMEOUT: 2m
"""

INCLUDE_COMPONENT = f"""\
stages: [build, test, security, staging_deploy, staging_test, production_deploy, post_deploy]
include:
  - local: templates/ci-deploy/template.yml
    inputs:
      image: {APP_IMAGE}:3.0.0
      production: false
      timeout: 2m
"""


def pipeline_repo(path: Path, gitlab_ci: str, config: str = E2E_CONFIG) -> Path:
    files = {
        "ci-deploy.yml": config,
        ".gitlab-ci.yml": gitlab_ci,
        ".gitlab-ci-template.yml": TEMPLATE.read_text(encoding="utf-8"),
        "templates/ci-deploy/template.yml": COMPONENT.read_text(encoding="utf-8"),
    }
    repo = git_repo(path, files)
    fake_gitlab_remote(repo)
    return repo


def gcl(repo: Path, cluster: SandboxHandle, *args: str) -> Run:
    run = run_gitlab_ci_local(
        repo, "--force-shell-executor", "--variable", f"KUBECONFIG={cluster.kubeconfig}", *args
    )
    print(f"gitlab-ci-local {' '.join(args)}: {run.seconds:.1f}s")
    assert_no_token(cluster.kubeconfig, run.log)  # the TLS sandbox's bearer token
    return run


def live_image(cluster: SandboxHandle, repo: Path, env: str = "staging") -> str:
    return str(live_status(cluster.kubeconfig, repo / "ci-deploy.yml", env)["live"]["image"])


def test_template_pipeline_deploys_and_passes_dotenv_on(
    tmp_path: Path, cluster: SandboxHandle
) -> None:
    repo = pipeline_repo(tmp_path / "repo", INCLUDE_TEMPLATE)
    manual = ("--manual", "ci-deploy:production", "--manual", "ci-deploy:production:promote")
    run = gcl(repo, cluster, *manual)
    assert run.returncode == 0, str(run)
    jobs = ("validate", "staging", "staging:status", "production", "production:status")
    for job in (*jobs, "production:promote"):
        assert gitlab_result(run, f"ci-deploy:{job}") == "PASS", str(run)
    # A rolling deploy never pauses: its gate has nothing to continue and passes at once.
    assert "the deploy job ended Succeeded: no rollout waits at a gate" in run.log, str(run)
    # The status jobs saw the deploy jobs' dotenv variables.
    said = f"deploy job said phase=Succeeded revision={APP_IMAGE}:1.0.0"
    assert run.log.count(said) == 2, str(run)
    report = gitlab_dotenv(repo, "ci-deploy:staging")
    assert report["CI_DEPLOY_PHASE"] == "Succeeded"
    assert report["CI_DEPLOY_ENVIRONMENT_URL"] == "https://staging.example.com"
    assert gitlab_dotenv(repo, "ci-deploy:production")["CI_DEPLOY_ENVIRONMENT_URL"] == (
        "https://app.example.com"
    )
    # GitLab's collapsible sections around the plan and the rollout.
    assert "section_start" not in run.log  # gitlab-ci-local renders them as timed sections
    assert "ci_deploy_2_rollout_of_" in run.log
    assert live_image(cluster, repo, "production") == f"{APP_IMAGE}:1.0.0"


def test_manual_rollback_job_restores_the_previous_revision(
    tmp_path: Path, cluster: SandboxHandle
) -> None:
    repo = pipeline_repo(tmp_path / "repo", INCLUDE_TEMPLATE)
    for tag in ("1.0.0", "2.0.0"):
        deploy_outside_ci(cluster.kubeconfig, repo / "ci-deploy.yml", f"{APP_IMAGE}:{tag}")
    run = gcl(repo, cluster, "ci-deploy:staging:rollback", "--manual", "ci-deploy:staging:rollback")
    assert run.returncode == 0, str(run)
    assert gitlab_result(run, "ci-deploy:staging:rollback") == "PASS", str(run)
    assert live_image(cluster, repo) == f"{APP_IMAGE}:1.0.0"
    report = gitlab_dotenv(repo, "ci-deploy:staging:rollback")
    assert report["CI_DEPLOY_PREVIOUS_REVISION"] == f"{APP_IMAGE}:1.0.0", report


def scoped_kubeconfig_run(repo: Path, cluster: SandboxHandle, scope: str, *args: str) -> Run:
    """gitlab-ci-local with KUBECONFIG a File variable scoped to the environment ``scope``
    (what docs/ci.md recommends), not a global one: only jobs with that environment get it."""
    variables = {"KUBECONFIG": {"values": {scope: str(cluster.kubeconfig)}}}
    (repo / ".gitlab-ci-local-variables.yml").write_text(yaml.safe_dump(variables), "utf-8")
    run = run_gitlab_ci_local(
        repo,
        "--force-shell-executor",
        "--variables-file",
        ".gitlab-ci-local-variables.yml",  # read relative to the repository
        *("--variable", "CI_DEPLOY_PRODUCTION_ENABLED=false"),
        *args,
    )
    assert_no_token(cluster.kubeconfig, run.log)
    return run


def test_an_environment_scoped_kubeconfig_reaches_deploy_status_and_rollback_jobs(
    tmp_path: Path, cluster: SandboxHandle
) -> None:
    repo = pipeline_repo(tmp_path / "repo", INCLUDE_TEMPLATE)
    deploy_outside_ci(cluster.kubeconfig, repo / "ci-deploy.yml", f"{APP_IMAGE}:0.9.0")
    run = scoped_kubeconfig_run(repo, cluster, "staging")
    assert run.returncode == 0, str(run)
    for job in ("staging", "staging:status"):  # the status job has environment action verify
        assert gitlab_result(run, f"ci-deploy:{job}") == "PASS", str(run)
    assert live_image(cluster, repo) == f"{APP_IMAGE}:1.0.0"
    rollback = ("ci-deploy:staging:rollback", "--manual", "ci-deploy:staging:rollback")
    run = scoped_kubeconfig_run(repo, cluster, "staging", *rollback)
    assert gitlab_result(run, "ci-deploy:staging:rollback") == "PASS", str(run)
    assert live_image(cluster, repo) == f"{APP_IMAGE}:0.9.0"
    # The control: scoped to another environment, the staging jobs get no credentials.
    run = scoped_kubeconfig_run(repo, cluster, "production")
    assert gitlab_result(run, "ci-deploy:staging") == "FAIL", str(run)
    assert live_image(cluster, repo) == f"{APP_IMAGE}:0.9.0"


def test_failing_deploy_fails_the_pipeline_and_reports_rolled_back(
    tmp_path: Path, cluster: SandboxHandle
) -> None:
    repo = pipeline_repo(tmp_path / "repo", INCLUDE_TEMPLATE)
    deploy_outside_ci(cluster.kubeconfig, repo / "ci-deploy.yml", f"{APP_IMAGE}:1.0.0")
    run = gcl(
        repo,
        cluster,
        "--variable",
        f"CI_DEPLOY_IMAGE={APP_IMAGE}:crashloop",
        "--variable",
        "CI_DEPLOY_PRODUCTION_ENABLED=false",
    )
    assert run.returncode == 1, str(run)
    assert gitlab_result(run, "ci-deploy:staging") == "FAIL", str(run)
    assert gitlab_result(run, "ci-deploy:staging:status") is None  # its need failed
    report = gitlab_dotenv(repo, "ci-deploy:staging")
    assert report["CI_DEPLOY_PHASE"] == "RolledBack", report
    assert report["CI_DEPLOY_PREVIOUS_REVISION"] == f"{APP_IMAGE}:1.0.0"
    assert live_image(cluster, repo) == f"{APP_IMAGE}:1.0.0"


# The example's production canary on the sandbox: production's own context (the sandbox's, for
# `cluster: production`),
# durations divided for a rehearsal, staging left out (not what is tested here).
CANARY_VARIABLES = (
    *("--variable", f"CI_DEPLOY_PRODUCTION_CONTEXT={SANDBOX_CONTEXT}"),
    *("--variable", f"CI_DEPLOY_TIME_SCALE={CANARY_TIME_SCALE}"),
    *("--variable", "CI_DEPLOY_STAGING_ENABLED=false"),
)


def test_paused_production_canary_goes_on_by_the_manual_promote_or_abort_job(
    tmp_path: Path, cluster: SandboxHandle
) -> None:
    repo = pipeline_repo(tmp_path / "repo", INCLUDE_TEMPLATE, EXAMPLE_CONFIG)
    config = repo / "ci-deploy.yml"
    example_production_with_stable(cluster.kubeconfig, config, f"{APP_IMAGE}:1.0.0")

    def production(image: str, gate: str) -> Run:
        image_variable = ("--variable", f"CI_DEPLOY_IMAGE={APP_IMAGE}:{image}")
        # the example's analysis.prometheus.address_env: a CI/CD variable in real use
        metrics = ("--variable", f"PROMETHEUS_URL={cluster.synthetic_prometheus_url}")
        manual = ("--manual", "ci-deploy:production", "--manual", f"ci-deploy:production:{gate}")
        run = gcl(repo, cluster, *CANARY_VARIABLES, *image_variable, *metrics, *manual)
        assert run.returncode == 0, str(run)
        assert "stage initial: 250ms passed, healthy, analysis passed" in run.log, str(run)
        for job in ("production", "production:status", f"production:{gate}"):
            assert gitlab_result(run, f"ci-deploy:{job}") == "PASS", str(run)
        # The deploy job stopped at the gate after stage "expanded" and passed; its report
        # (and the status job) say Paused.
        report = gitlab_dotenv(repo, "ci-deploy:production")
        assert report["CI_DEPLOY_PHASE"] == "Paused", report
        assert report["CI_DEPLOY_REVISION"] == f"{APP_IMAGE}:{image}"
        assert report["CI_DEPLOY_CANARY_WEIGHT"] == "28.6"  # 2 canary pods beside 5 stable
        assert f"deploy job said phase=Paused revision={APP_IMAGE}:{image}" in run.log
        return run

    promoted = production("2.0.0", "promote")
    assert gitlab_result(promoted, "ci-deploy:production:abort") is None  # manual, not started
    report = gitlab_dotenv(repo, "ci-deploy:production:promote")
    assert report["CI_DEPLOY_PHASE"] == "Succeeded", report
    assert report["CI_DEPLOY_REVISION"] == f"{APP_IMAGE}:2.0.0"
    status = live_status(cluster.kubeconfig, config, "production", "--context", SANDBOX_CONTEXT)
    assert status["state"]["phase"] == "Succeeded"
    assert status["live"]["image"] == f"{APP_IMAGE}:2.0.0"
    assert deployment_names(cluster.store, EXAMPLE_PRODUCTION_NAMESPACE) == ["web-app"]

    aborted = production("3.0.0", "abort")
    assert gitlab_result(aborted, "ci-deploy:production:promote") is None
    report = gitlab_dotenv(repo, "ci-deploy:production:abort")
    assert report["CI_DEPLOY_PHASE"] == "Aborted", report
    status = live_status(cluster.kubeconfig, config, "production", "--context", SANDBOX_CONTEXT)
    assert status["state"]["phase"] == "Aborted"
    assert status["state"]["revision"] == f"{APP_IMAGE}:3.0.0"
    assert status["live"]["image"] == f"{APP_IMAGE}:2.0.0"  # stable served throughout
    assert deployment_names(cluster.store, EXAMPLE_PRODUCTION_NAMESPACE) == ["web-app"]


def listed_when(run: Run) -> dict[str, str]:
    """Job name -> its `when` column, from ``gitlab-ci-local --list`` (after the header)."""
    lines = run.log.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("name "))
    return {line.split()[0]: line.split()[2] for line in lines[start + 1 :] if line.strip()}


def job_names(run: Run) -> set[str]:
    return set(listed_when(run))


def test_freeze_and_switch_variables_remove_jobs(tmp_path: Path, cluster: SandboxHandle) -> None:
    repo = pipeline_repo(tmp_path / "repo", INCLUDE_TEMPLATE)
    everything = job_names(gcl(repo, cluster, "--list"))
    assert everything == {
        "ci-deploy:validate",
        "ci-deploy:staging",
        "ci-deploy:staging:status",
        "ci-deploy:staging:rollback",
        "ci-deploy:production",
        "ci-deploy:production:promote",
        "ci-deploy:production:abort",
        "ci-deploy:production:status",
        "ci-deploy:production:rollback",
        "ci-deploy:staging:stop",
        "ci-deploy:production:stop",
    }
    frozen = job_names(gcl(repo, cluster, "--list", "--variable", "CI_DEPLOY_FREEZE=true"))
    assert frozen == {"ci-deploy:validate", *BY_HAND}
    no_prod = job_names(
        gcl(repo, cluster, "--list", "--variable", "CI_DEPLOY_PRODUCTION_ENABLED=false")
    )
    assert not any("production" in name for name in no_prod)
    no_gates = job_names(
        gcl(repo, cluster, "--list", "--variable", "CI_DEPLOY_PROMOTE_ENABLED=false")
    )
    assert no_gates == everything - {"ci-deploy:production:promote", "ci-deploy:production:abort"}
    feature = job_names(gcl(repo, cluster, "--list", "--variable", "CI_COMMIT_BRANCH=feature/x"))
    assert feature == {"ci-deploy:validate"}


EXTENSION_RECIPE = (
    INCLUDE_TEMPLATE
    + """\
deploy:eu:
  extends: [.ci-deploy-deploy, .ci-deploy-production-rules]
  stage: production_deploy
  variables: {CI_DEPLOY_ENVIRONMENT: production-eu}
  environment: {name: production-eu, url: $CI_DEPLOY_ENVIRONMENT_URL}
"""
)


def test_the_extension_recipe_inherits_the_freeze_the_branches_and_the_manual_gate(
    tmp_path: Path, cluster: SandboxHandle
) -> None:
    repo = pipeline_repo(tmp_path / "repo", EXTENSION_RECIPE)
    assert listed_when(gcl(repo, cluster, "--list"))["deploy:eu"] == "manual"
    frozen = job_names(gcl(repo, cluster, "--list", "--variable", "CI_DEPLOY_FREEZE=true"))
    assert "deploy:eu" not in frozen and "ci-deploy:validate" in frozen
    branch = ("--list", "--variable", "CI_COMMIT_BRANCH=feature/x")
    assert "deploy:eu" not in job_names(gcl(repo, cluster, *branch))
    # the staging branch deploys staging, never production (nor this production job)
    staging_branch = job_names(
        gcl(repo, cluster, "--list", "--variable", "CI_COMMIT_BRANCH=develop")
    )
    assert "ci-deploy:staging" in staging_branch and "deploy:eu" not in staging_branch
    renamed = ("--variable", "CI_DEPLOY_STAGING_BRANCH=next")
    on_next = job_names(
        gcl(repo, cluster, "--list", "--variable", "CI_COMMIT_BRANCH=next", *renamed)
    )
    assert "ci-deploy:staging" in on_next


# The form users write; gitlab-ci-local resolves it to templates/ci-deploy/template.yml
# because the path is this project's and the ref is HEAD's commit.
INCLUDE_COMPONENT_REF = INCLUDE_COMPONENT.replace(
    "  - local: templates/ci-deploy/template.yml",
    "  - component: $CI_SERVER_FQDN/$CI_PROJECT_PATH/ci-deploy@$CI_COMMIT_SHA",
)


@pytest.mark.parametrize(
    "include", [INCLUDE_COMPONENT, INCLUDE_COMPONENT_REF], ids=["local", "component"]
)
def test_component_with_inputs_deploys_and_drops_disabled_jobs(
    tmp_path: Path, cluster: SandboxHandle, include: str
) -> None:
    repo = pipeline_repo(tmp_path / "repo", include)
    listed = job_names(gcl(repo, cluster, "--list"))
    assert listed == {
        "ci-deploy:validate",
        "ci-deploy:staging",
        "ci-deploy:staging:status",
        "ci-deploy:staging:rollback",
        "ci-deploy:staging:stop",
    }
    run = gcl(repo, cluster)
    assert run.returncode == 0, str(run)
    assert f"deploy job said phase=Succeeded revision={APP_IMAGE}:3.0.0" in run.log, str(run)
    assert gitlab_dotenv(repo, "ci-deploy:staging")["CI_DEPLOY_PHASE"] == "Succeeded"


INCLUDE_COMPONENT_PRODUCTION = f"""\
stages: [build, test, security, staging_deploy, staging_test, production_deploy, post_deploy]
include:
  - local: templates/ci-deploy/template.yml
    inputs:
      image: {APP_IMAGE}:2.0.0
      staging: false
      production-context: {SANDBOX_CONTEXT}
      production-strategy: canary
      timeout: 1h30m
"""


def test_component_inputs_reach_the_example_production_canary_in_its_own_context(
    tmp_path: Path, cluster: SandboxHandle
) -> None:
    repo = pipeline_repo(tmp_path / "repo", INCLUDE_COMPONENT_PRODUCTION, EXAMPLE_CONFIG)
    config = repo / "ci-deploy.yml"
    example_production_with_stable(cluster.kubeconfig, config, f"{APP_IMAGE}:1.0.0")
    run = gcl(
        repo,
        cluster,
        *("--variable", f"CI_DEPLOY_TIME_SCALE={CANARY_TIME_SCALE}"),
        *("--variable", f"PROMETHEUS_URL={cluster.synthetic_prometheus_url}"),
        *("--manual", "ci-deploy:production", "--manual", "ci-deploy:production:promote"),
    )
    assert run.returncode == 0, str(run)
    for job in ("production", "production:status", "production:promote"):
        assert gitlab_result(run, f"ci-deploy:{job}") == "PASS", str(run)
    assert gitlab_dotenv(repo, "ci-deploy:production")["CI_DEPLOY_PHASE"] == "Paused"
    assert gitlab_dotenv(repo, "ci-deploy:production:promote")["CI_DEPLOY_PHASE"] == "Succeeded"
    status = live_status(cluster.kubeconfig, config, "production", "--context", SANDBOX_CONTEXT)
    assert status["live"]["image"] == f"{APP_IMAGE}:2.0.0"


def test_component_accepts_the_durations_the_cli_accepts(
    tmp_path: Path, cluster: SandboxHandle
) -> None:
    # tests/pipelines/test_component_inputs.py compares the two parsers value by value; this
    # is gitlab-ci-local's own reading of the regex, for a value the old one refused.
    repo = pipeline_repo(tmp_path / "repo", INCLUDE_COMPONENT.replace("2m", "1h30m"))
    assert gcl(repo, cluster, "--list").returncode == 0
    repo = pipeline_repo(tmp_path / "bad", INCLUDE_COMPONENT.replace("2m", "90"))
    refused = gcl(repo, cluster, "--list")
    assert refused.returncode != 0 and "timeout" in refused.log, str(refused)


def test_component_rejects_an_input_outside_its_options(
    tmp_path: Path, cluster: SandboxHandle
) -> None:
    bad = INCLUDE_COMPONENT.replace("production: false", "production-when: sometimes")
    repo = pipeline_repo(tmp_path / "repo", bad)
    run = gcl(repo, cluster, "--list")
    assert run.returncode != 0
    assert "production-when" in run.log and "sometimes" in run.log, str(run)


# -- static checks ---------------------------------------------------------------------------


def test_template_and_rendered_component_match_gitlabs_schema(tmp_path: Path) -> None:
    assert_schema_valid("vendor.gitlab-ci", TEMPLATE)
    repo = pipeline_repo(tmp_path / "repo", INCLUDE_COMPONENT)
    # --preview prints the merged, input-interpolated YAML on stdout (its log on stderr).
    preview = run_gitlab_ci_local(repo, "--preview", merge_stderr=False)
    assert preview.returncode == 0, str(preview)
    rendered = tmp_path / "rendered.yml"
    rendered.write_text(preview.log, encoding="utf-8")
    merged = load(rendered)
    assert merged["ci-deploy:staging"]["variables"]["CI_DEPLOY_IMAGE"] == f"{APP_IMAGE}:3.0.0"
    assert_schema_valid("vendor.gitlab-ci", rendered)


def test_action_metadata_matches_githubs_schema() -> None:
    assert_schema_valid("vendor.github-actions", ROOT / "action.yml")


def load(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return loaded


def resolved(jobs: dict[str, Any], name: str) -> dict[str, Any]:
    """A job with its ``extends:`` merged as GitLab merges them: parents in order, then the
    job's own keys (top-level keys replaced, not deep-merged: enough for ``rules``)."""
    job = jobs[name]
    parents = job.get("extends", [])
    merged: dict[str, Any] = {}
    for parent in [parents] if isinstance(parents, str) else parents:
        merged.update(resolved(jobs, parent))
    merged.update({k: v for k, v in job.items() if k != "extends"})
    return merged


def resolved_jobs(path: Path) -> dict[str, Any]:
    jobs = load(path)
    return {
        name: resolved(jobs, name) if isinstance(job, dict) else job for name, job in jobs.items()
    }


def test_template_gates_production_and_serialises_each_environment() -> None:
    jobs = resolved_jobs(TEMPLATE)
    for env in ("staging", "production"):
        deploy, rollback = jobs[f"ci-deploy:{env}"], jobs[f"ci-deploy:{env}:rollback"]
        group = f"ci-deploy-$CI_DEPLOY_{env.upper()}_ENVIRONMENT"
        assert deploy["resource_group"] == rollback["resource_group"] == group
        stop = jobs[f"ci-deploy:{env}:stop"]
        # the stop job (a teardown) is the environment's on_stop; rolling back stops nothing
        assert deploy["environment"]["on_stop"] == f"ci-deploy:{env}:stop"
        assert stop["environment"]["action"] == "stop"
        assert stop["resource_group"] == group
        assert stop["rules"][-1] == {**stop["rules"][-1], "when": "manual", "allow_failure": True}
        assert deploy["environment"]["url"] == "$CI_DEPLOY_ENVIRONMENT_URL"
        assert rollback["environment"]["action"] == "access"  # the scoped KUBECONFIG
        assert rollback["rules"][-1]["when"] == "manual"
        assert {"if": '$CI_DEPLOY_FREEZE == "true"', "when": "never"} in deploy["rules"]
        assert not any("FREEZE" in str(rule) for rule in rollback["rules"])
    assert jobs["ci-deploy:production"]["rules"][-1]["when"] == "manual"
    assert "CI_DEPLOY_FREEZE" not in jobs["variables"]  # would override GitLab's own
    assert jobs["stages"] == [
        "build",
        "test",
        "security",
        "staging_deploy",
        "staging_test",
        "production_deploy",
        "post_deploy",
    ]


def test_template_promote_and_abort_jobs_are_the_production_gate() -> None:
    jobs = resolved_jobs(TEMPLATE)
    deploy = jobs["ci-deploy:production"]
    promote, abort = jobs["ci-deploy:production:promote"], jobs["ci-deploy:production:abort"]
    for job in (promote, abort):
        assert job["needs"] == ["ci-deploy:production"]
        assert job["stage"] == deploy["stage"] == "production_deploy"
        assert job["resource_group"] == deploy["resource_group"]
        assert job["environment"]["name"] == deploy["environment"]["name"]
        # The deploy job's rules: a gate is never created without the job it needs (freeze,
        # schedule, the same refs), and its own switch beside the production one.
        # (and none in a rollback pipeline)
        assert job["rules"][:3] == deploy["rules"][:3]
        assert job["rules"][0] == {"if": "$CI_DEPLOY_ROLLBACK", "when": "never"}
        assert job["rules"][1] == {"if": '$CI_DEPLOY_FREEZE == "true"', "when": "never"}
        assert "CI_DEPLOY_ON_SCHEDULE" in job["rules"][2]["if"]
        assert "CI_DEPLOY_PROMOTE_ENABLED" in job["rules"][3]["if"]
        assert job["rules"][-1]["if"] == deploy["rules"][-1]["if"]
        assert job["rules"][-1]["when"] == "manual"
    # Promote blocks what follows (like the deploy gate) and is a deployment of the commit.
    assert promote["rules"][-1]["allow_failure"] is False
    assert "action" not in promote["environment"]
    assert "on_stop" not in promote["environment"]
    assert abort["rules"][-1]["allow_failure"] is True
    assert abort["environment"]["action"] == "access"
    assert "--full" in " ".join(jobs[".ci-deploy-promote"]["script"])
    # The production report passes a paused deploy only while the gate jobs exist.
    assert jobs[".ci-deploy-status"]["variables"]["CI_DEPLOY_STATUS_PASSES"] == "Succeeded"
    rules = jobs["ci-deploy:production:status"]["rules"]
    paused = [r for r in rules if r.get("variables")]
    assert [r["variables"]["CI_DEPLOY_STATUS_PASSES"] for r in paused] == ["Succeeded Paused"]
    assert '$CI_DEPLOY_PROMOTE_ENABLED != "false"' in paused[0]["if"]


def test_component_offers_the_same_jobs_as_the_template() -> None:
    spec, jobs = yaml.safe_load_all(COMPONENT.read_text(encoding="utf-8"))
    template = load(TEMPLATE)
    assert {k for k in jobs if k.startswith("ci-deploy:")} == {
        k for k in template if k.startswith("ci-deploy:")
    }
    inputs = spec["spec"]["inputs"]
    assert inputs["production-when"]["options"] == ["manual", "on_success"]
    assert inputs["staging"]["type"] == inputs["production"]["type"] == "boolean"
    assert inputs["promote"] == {**inputs["promote"], "type": "boolean", "default": True}


def test_the_image_runs_a_template_job_script_as_gitlabs_docker_executor_would(
    tmp_path: Path, cluster: SandboxHandle, action_image: str
) -> None:
    # The docker executor overrides the entrypoint (the template sets entrypoint [""]) and
    # feeds the job script to a shell in the image, the project checked out as working dir.
    repo = pipeline_repo(tmp_path / "repo", INCLUDE_TEMPLATE)
    script = load(TEMPLATE)[".ci-deploy-deploy"]["script"]
    kubeconfig_dir = cluster.kubeconfig.parent
    proc = subprocess.run(
        [
            "docker", "run", "--rm", "--network", "host", "--entrypoint", "",
            "-v", f"{repo}:/builds/group/proj", "-w", "/builds/group/proj",
            "-v", f"{kubeconfig_dir}:{kubeconfig_dir}:ro",
            "-e", f"KUBECONFIG={cluster.kubeconfig}",
            "-e", "CI_DEPLOY_PLATFORM=gitlab", "-e", "CI_DEPLOY_ENVIRONMENT=staging",
            "-e", f"CI_DEPLOY_IMAGE={APP_IMAGE}:5.0.0", "-e", "CI_DEPLOY_TIMEOUT=2m",
            "-e", "CI_DEPLOY_CONTEXT=",
            "ci-deploy:e2e", "sh", "-c", "\n".join(script),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert_no_token(cluster.kubeconfig, proc.stdout + proc.stderr)
    assert "section_start:" in proc.stdout  # GitLab collapsible sections
    report = (repo / "ci-deploy.env").read_text(encoding="utf-8")
    assert f"CI_DEPLOY_REVISION={APP_IMAGE}:5.0.0\n" in report
    assert "CI_DEPLOY_PHASE=Succeeded\n" in report
    assert live_image(cluster, repo) == f"{APP_IMAGE}:5.0.0"


# -- which pipelines deploy ------------------------------------------------------------------

NO_BRANCH = ("--variable", "CI_COMMIT_BRANCH=")  # gitlab-ci-local takes the branch from git
MERGE_REQUEST = (*NO_BRANCH, "--variable", "CI_PIPELINE_SOURCE=merge_request_event")
TAG = (*NO_BRANCH, "--variable", "CI_COMMIT_TAG=v1.0.0")
SCHEDULE = ("--variable", "CI_PIPELINE_SOURCE=schedule")
FROM_TAGS = ("--variable", "CI_DEPLOY_PRODUCTION_FROM_TAGS=true")
PRODUCTION_JOBS = {
    "ci-deploy:production",
    "ci-deploy:production:promote",
    "ci-deploy:production:abort",
    "ci-deploy:production:status",
    "ci-deploy:production:rollback",
    "ci-deploy:production:stop",
}
STAGING_JOBS = {
    "ci-deploy:staging",
    "ci-deploy:staging:status",
    "ci-deploy:staging:rollback",
    "ci-deploy:staging:stop",
}
# the jobs a person runs by hand, in a freeze and in a scheduled pipeline too
BY_HAND = {
    "ci-deploy:staging:rollback",
    "ci-deploy:production:rollback",
    "ci-deploy:staging:stop",
    "ci-deploy:production:stop",
}


def test_merge_request_pipelines_deploy_nothing_and_a_branch_with_one_gets_no_twin(
    tmp_path: Path, cluster: SandboxHandle
) -> None:
    repo = pipeline_repo(tmp_path / "repo", INCLUDE_TEMPLATE)
    assert job_names(gcl(repo, cluster, "--list", *MERGE_REQUEST)) == {"ci-deploy:validate"}
    # gitlab-ci-local reads workflow:rules for their variables only and never drops a pipeline,
    # so the template's workflow rules are evaluated here as a probe job's rules (by
    # gitlab-ci-local's own rule engine): the job is listed when the pipeline would be created.
    probe = yaml.safe_dump(
        {"probe": {"script": ["true"], "rules": load(TEMPLATE)["workflow"]["rules"]}}
    )
    repo = pipeline_repo(tmp_path / "probe", probe)

    def created(*variables: str) -> bool:
        return "probe" in job_names(gcl(repo, cluster, "--list", *variables))

    assert created()  # a branch push
    assert created(*MERGE_REQUEST)
    assert created(*TAG)
    assert created(*SCHEDULE)
    # The push to a branch that has an open merge request: no pipeline (GitLab runs the merge
    # request's only), so the commit is not validated twice. Its MR pipeline deploys nothing.
    assert not created("--variable", "CI_OPEN_MERGE_REQUESTS=me/app!1")


def test_schedules_deploy_only_when_asked(tmp_path: Path, cluster: SandboxHandle) -> None:
    repo = pipeline_repo(tmp_path / "repo", INCLUDE_TEMPLATE)
    everything = job_names(gcl(repo, cluster, "--list"))
    scheduled = job_names(gcl(repo, cluster, "--list", *SCHEDULE))
    assert scheduled == {"ci-deploy:validate", *BY_HAND}
    asked = ("--variable", "CI_DEPLOY_ON_SCHEDULE=true")
    assert job_names(gcl(repo, cluster, "--list", *SCHEDULE, *asked)) == everything


def test_a_tag_pipeline_deploys_production_when_configured(
    tmp_path: Path, cluster: SandboxHandle
) -> None:
    repo = pipeline_repo(tmp_path / "repo", INCLUDE_TEMPLATE)
    assert job_names(gcl(repo, cluster, "--list", *TAG)) == {"ci-deploy:validate"}
    assert job_names(gcl(repo, cluster, "--list", *TAG, *FROM_TAGS)) == {
        "ci-deploy:validate",
        *PRODUCTION_JOBS,
    }
    # and the default branch then deploys staging only
    on_main = job_names(gcl(repo, cluster, "--list", *FROM_TAGS))
    assert on_main == {"ci-deploy:validate", *STAGING_JOBS}
    manual = ("--manual", "ci-deploy:production", "--manual", "ci-deploy:production:promote")
    run = gcl(repo, cluster, *TAG, *FROM_TAGS, *manual)
    assert run.returncode == 0, str(run)
    for job in ("production", "production:status", "production:promote"):
        assert gitlab_result(run, f"ci-deploy:{job}") == "PASS", str(run)
    assert live_image(cluster, repo, "production") == f"{APP_IMAGE}:1.0.0"


def test_component_inputs_move_production_to_tags_and_let_schedules_deploy(
    tmp_path: Path, cluster: SandboxHandle
) -> None:
    include = INCLUDE_COMPONENT.replace("production: false", "production-from-tags: true")
    repo = pipeline_repo(tmp_path / "repo", include)
    assert job_names(gcl(repo, cluster, "--list", *TAG)) >= PRODUCTION_JOBS
    assert not job_names(gcl(repo, cluster, "--list")) & PRODUCTION_JOBS
    assert "ci-deploy:staging" not in job_names(gcl(repo, cluster, "--list", *SCHEDULE))
    scheduling = pipeline_repo(
        tmp_path / "scheduling", INCLUDE_COMPONENT.replace("production: false", "on-schedule: true")
    )
    assert "ci-deploy:staging" in job_names(gcl(scheduling, cluster, "--list", *SCHEDULE))


@pytest.mark.parametrize("path", [TEMPLATE, COMPONENT], ids=["template", "component"])
def test_only_the_stop_jobs_stop_an_environment(path: Path) -> None:
    # GitLab runs an environment's on_stop job by itself when the deploying branch is deleted:
    # that is the teardown job (which deletes nothing unconfirmed), never a rollback.
    text = path.read_text(encoding="utf-8")
    if path == COMPONENT:
        text = text.split("\n---\n", 1)[1]
    jobs = yaml.safe_load(text)
    environments = {
        name: job["environment"]
        for name, job in jobs.items()
        if isinstance(job, dict) and isinstance(job.get("environment"), dict)
    }
    assert len(environments) >= 10
    stopping = {name for name, env in environments.items() if env.get("action") == "stop"}
    assert stopping == {"ci-deploy:staging:stop", "ci-deploy:production:stop"}
    on_stop = {name: env["on_stop"] for name, env in environments.items() if "on_stop" in env}
    assert on_stop == {
        "ci-deploy:staging": "ci-deploy:staging:stop",
        "ci-deploy:production": "ci-deploy:production:stop",
    }
    teardown = " ".join(jobs[".ci-deploy-teardown"]["script"])
    assert '${CI_DEPLOY_TEARDOWN_CONFIRM:+--confirm "$CI_DEPLOY_TEARDOWN_CONFIRM"}' in teardown


def test_a_stop_job_deletes_nothing_unless_confirmed(
    tmp_path: Path, cluster: SandboxHandle
) -> None:
    repo = pipeline_repo(tmp_path / "repo", INCLUDE_TEMPLATE)
    deploy_outside_ci(cluster.kubeconfig, repo / "ci-deploy.yml", f"{APP_IMAGE}:1.0.0")
    stop = ("ci-deploy:staging:stop", "--manual", "ci-deploy:staging:stop")
    # what GitLab runs by itself when the deploying branch is deleted: no confirmation
    run = gcl(repo, cluster, *stop)
    # failed, allowed to fail (a manual job that never blocks the pipeline)
    assert gitlab_result(run, "ci-deploy:staging:stop") == "WARN", str(run)
    assert "ci-deploy teardown --env" in run.log
    assert "nothing was deleted" in run.log, str(run)
    assert "hint: repeat the environment's name to go on: --confirm staging" in run.log
    assert live_image(cluster, repo) == f"{APP_IMAGE}:1.0.0"
    # the wrong environment's name is no confirmation either
    run = gcl(repo, cluster, *stop, "--variable", "CI_DEPLOY_TEARDOWN_CONFIRM=production")
    assert gitlab_result(run, "ci-deploy:staging:stop") == "WARN", str(run)
    assert "(--confirm 'production' is not 'staging')" in run.log
    assert live_image(cluster, repo) == f"{APP_IMAGE}:1.0.0"
    run = gcl(repo, cluster, *stop, "--variable", "CI_DEPLOY_TEARDOWN_CONFIRM=staging")
    assert gitlab_result(run, "ci-deploy:staging:stop") == "PASS", str(run)
    assert "torn down staging:" in run.log, str(run)
    assert deployment_names(cluster.store, "web-app-staging") == []
    status = live_status(cluster.kubeconfig, repo / "ci-deploy.yml")
    assert status["live"] is None or not status["live"].get("image"), status


@pytest.mark.parametrize(
    "include", [INCLUDE_TEMPLATE, INCLUDE_COMPONENT], ids=["template", "component"]
)
def test_a_rollback_pipeline_runs_the_rollback_only_and_fails_with_it(
    tmp_path: Path, cluster: SandboxHandle, include: str
) -> None:
    repo = pipeline_repo(tmp_path / "repo", include)
    asked = ("--variable", "CI_DEPLOY_ROLLBACK=staging")
    listed = listed_when(gcl(repo, cluster, "--list", *asked))
    assert listed == {
        "ci-deploy:validate": "on_success",
        "ci-deploy:staging:rollback": "on_success",
    }
    if include is INCLUDE_COMPONENT:
        return  # the same rules; the run below is the template's
    for tag in ("1.0.0", "2.0.0", "3.0.0"):
        deploy_outside_ci(cluster.kubeconfig, repo / "ci-deploy.yml", f"{APP_IMAGE}:{tag}")
    run = gcl(repo, cluster, *asked, "--variable", "CI_DEPLOY_ROLLBACK_REVISION=1")
    assert run.returncode == 0, str(run)
    assert gitlab_result(run, "ci-deploy:staging:rollback") == "PASS", str(run)
    assert live_image(cluster, repo) == f"{APP_IMAGE}:1.0.0"
    # a rollback that fails fails its job and the pipeline (not allowed to fail)
    run = gcl(repo, cluster, *asked, "--variable", "CI_DEPLOY_ROLLBACK_REVISION=99")
    assert run.returncode != 0, str(run)
    assert gitlab_result(run, "ci-deploy:staging:rollback") == "FAIL", str(run)
    assert "revision 99" in run.log, str(run)
    assert live_image(cluster, repo) == f"{APP_IMAGE}:1.0.0"
