"""Rendered pipelines: valid YAML, actionlint- and schema-clean, no job for a missing verb.

actionlint and check-jsonschema are the real tools (scripts/setup.d/32-act.sh installs them).
"""

from __future__ import annotations

import dataclasses
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from tests.e2e.harness import assert_actionlint_clean, assert_schema_valid

from ci_deploy.cli import cli
from ci_deploy.config import load_config_text
from ci_deploy.pipelines import PipelinePlan, plan_pipeline, render_pipeline

CONFIG = """\
app: shop
image: {repository: registry.example.com/acme/shop}
environments:
  staging: {replicas: 2, url: "https://staging.example.com"}
  production: {replicas: 3, url: "https://shop.example.com"}
"""

# Rolling dev, blue-green staging, canary production: the last two can pause at a manual gate.
GATED_CONFIG = """\
app: shop
image: {repository: registry.example.com/acme/shop}
canary:
  stages:
    - {name: first, traffic_percentage: 20, duration: 5m, pause: true}
    - {name: full, traffic_percentage: 100}
blue_green: {auto_promote: false}
environments:
  dev: {replicas: 1}
  staging: {replicas: 2, url: "https://staging.example.com", strategy: blue_green}
  production: {replicas: 3, url: "https://shop.example.com", strategy: canary}
"""


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ci-deploy.yml").write_text(CONFIG, encoding="utf-8")
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)  # actionlint finds the repo
    return tmp_path


def plan(platform: str, *, every_stage: bool = False, config: str = CONFIG) -> PipelinePlan:
    made = plan_pipeline(load_config_text(config, "ci-deploy.yml"), platform)
    if every_stage:  # what the templates emit once build, scan and verify exist (and have checks)
        made = dataclasses.replace(
            made,
            stages=dict.fromkeys(made.stages, True),
            environments=[dataclasses.replace(e, checks=True) for e in made.environments],
            notes=[],
        )
    return made


def actionlint(repo: Path, text: str) -> None:
    path = repo / ".github" / "workflows" / "deploy.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    assert_actionlint_clean(repo)


def schema_check(schema: str, repo: Path, text: str) -> None:
    path = repo / "rendered.yml"
    path.write_text(text, encoding="utf-8")
    assert_schema_valid(schema, path)


def jobs_of(text: str) -> dict[str, Any]:
    doc = yaml.safe_load(text)
    jobs: dict[str, Any] = doc.get("jobs", doc)
    return jobs


CONFIGS = pytest.mark.parametrize("config", [CONFIG, GATED_CONFIG], ids=["rolling", "gated"])


@CONFIGS
@pytest.mark.parametrize("every_stage", [False, True])
def test_github_workflow_passes_actionlint_and_the_schema(
    repo: Path, every_stage: bool, config: str
) -> None:
    text = render_pipeline(plan("github", every_stage=every_stage, config=config))
    actionlint(repo, text)
    schema_check("vendor.github-workflows", repo, text)


@CONFIGS
@pytest.mark.parametrize("every_stage", [False, True])
def test_gitlab_pipeline_passes_the_schema(repo: Path, every_stage: bool, config: str) -> None:
    text = render_pipeline(plan("gitlab", every_stage=every_stage, config=config))
    schema_check("vendor.gitlab-ci", repo, text)


def test_github_jobs_chain_environments_and_leave_out_missing_verbs(repo: Path) -> None:
    made = plan("github")
    jobs = jobs_of(render_pipeline(made))
    expected = ["validate", "deploy-staging", "deploy-production", "rollback"]
    expected[:0] = [stage for stage in ("build", "scan") if made.has(stage)]
    assert not made.verifies(made.environments[0])  # CONFIG has nothing for verify to check
    assert sorted(jobs) == sorted(expected)
    assert jobs["deploy-production"]["needs"] == ["deploy-staging"]
    deploy = jobs["deploy-staging"]["steps"][1]
    assert deploy["uses"] == "org/ci-deploy@v1"
    assert deploy["with"]["environment"] == "staging"
    assert deploy["with"]["kubeconfig"] == "${{ secrets.KUBECONFIG }}"
    assert jobs["deploy-staging"]["environment"]["name"] == "staging"
    assert set(jobs["deploy-staging"]["outputs"]) >= {"phase", "revision", "previous-revision"}


def test_every_stage_appears_once_its_verb_exists(repo: Path) -> None:
    github = jobs_of(render_pipeline(plan("github", every_stage=True)))
    assert {"build", "scan", "verify-staging", "verify-production"} <= set(github)
    gitlab = jobs_of(render_pipeline(plan("gitlab", every_stage=True)))
    assert {"build", "scan", "verify:staging", "verify:production"} <= set(gitlab)


def test_no_expression_is_interpolated_into_a_script(repo: Path) -> None:
    for platform in ("github", "gitlab"):
        text = render_pipeline(plan(platform, every_stage=True))
        for job in jobs_of(text).values():
            if not isinstance(job, dict):
                continue
            scripts = [s.get("run", "") for s in job.get("steps", [])] + job.get("script", [])
            assert not any("${{" in script for script in scripts)


def test_gitlab_jobs_extend_the_template_and_gate_the_last_environment(repo: Path) -> None:
    doc = jobs_of(render_pipeline(plan("gitlab")))
    assert doc["include"] == [
        {"project": "org/ci-deploy", "ref": "v1", "file": ".gitlab-ci-template.yml"}
    ]
    assert doc["variables"]["CI_DEPLOY_IMAGE"] == "registry.example.com/acme/shop:$CI_COMMIT_SHA"
    assert doc["variables"]["CI_DEPLOY_STAGING_ENABLED"] == "false"
    staging, production = doc["deploy:staging"], doc["deploy:production"]
    assert staging["extends"] == production["extends"] == ".ci-deploy-deploy"
    assert production["rules"][-1]["when"] == "manual"
    assert "when" not in staging["rules"][-1]
    assert production["needs"] == ["status:staging"]
    assert production["resource_group"] == "ci-deploy-shop-production"
    assert production["environment"]["on_stop"] == "rollback:production"
    assert doc["rollback:production"]["rules"][-1]["when"] == "manual"


def test_cli_writes_the_file_and_reports_left_out_stages(repo: Path) -> None:
    out = repo / ".github" / "workflows" / "deploy.yml"
    result = CliRunner().invoke(
        cli, ["render", "pipeline", "--platform", "github", "-o", str(out)], obj={}
    )
    assert result.exit_code == 0, result.output
    assert out.read_text(encoding="utf-8") == render_pipeline(plan("github"))
    missing = [s for s in ("build", "scan", "verify") if not plan("github").has(s)]
    for stage in missing:
        assert re.search(rf"note: no `{stage}` job", result.output)
    left_out = "note: `verify` jobs left out (staging, production): the configuration has no"
    assert f"{left_out} analysis.smoke" in result.output


SMOKE_CONFIG = (
    CONFIG
    + """\
analysis:
  smoke:
    - {name: health, http: "{{ url }}/healthz"}
"""
)


@pytest.mark.parametrize("platform", ["github", "gitlab"])
def test_verify_jobs_only_when_the_configuration_has_checks(repo: Path, platform: str) -> None:
    sep = "-" if platform == "github" else ":"
    bare = plan(platform)
    assert bare.has("verify")  # the verb exists …
    assert not any(name.startswith("verify") for name in jobs_of(render_pipeline(bare)))
    assert any("`verify` jobs left out" in note and "analysis.smoke" in note for note in bare.notes)

    checked = plan(platform, config=SMOKE_CONFIG)  # … and runs once there is a check
    jobs = jobs_of(render_pipeline(checked))
    assert {f"verify{sep}staging", f"verify{sep}production"} <= set(jobs)
    assert jobs[f"deploy{sep}production"]["needs"] == [f"verify{sep}staging"]
    assert not any("verify" in note for note in checked.notes)


TRIGGERS_CONFIG = (
    GATED_CONFIG.replace(
        "blue_green: {auto_promote: false}",
        'blue_green:\n  auto_promote: false\n  rollback_triggers: [{error_rate: "> 1%"}]',
    )
    + "analysis: {prometheus: {address: http://prometheus:9090}}\n"
)


def test_a_verify_job_for_each_environment_whose_strategy_has_metric_rules() -> None:
    # blue_green.rollback_triggers give the blue-green staging something to verify; the canary
    # production and the rolling dev (judged on canary.rollback_triggers) have none
    made = plan("gitlab", config=TRIGGERS_CONFIG)
    jobs = jobs_of(render_pipeline(made))
    assert "verify:staging" in jobs
    assert "verify:dev" not in jobs and "verify:production" not in jobs
    assert (
        "`verify` jobs left out (dev, production): the configuration has no analysis.smoke"
        " checks and no canary.rollback_triggers (docs/analysis.md)"
    ) in made.notes


def test_cli_rejects_an_unknown_platform(repo: Path) -> None:
    result = CliRunner().invoke(cli, ["render", "pipeline", "--platform", "jenkins"], obj={})
    assert result.exit_code == 2
    assert "jenkins" in result.output


def test_a_configuration_path_with_a_newline_cannot_inject_yaml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ci_deploy.errors import UserInputError
    from ci_deploy.pipelines.model import pipeline_config_path

    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserInputError, match="may hold only letters, digits"):
        pipeline_config_path("ci-deploy.yml\non: {push: {}}\njobs: {evil: {}}\n#")
    assert pipeline_config_path("deploy/ci-deploy.yml") == "deploy/ci-deploy.yml"


# -- environments whose rollout can pause at a manual gate ----------------------------------


def test_only_canary_and_blue_green_environments_get_promote_and_abort_jobs(repo: Path) -> None:
    github = jobs_of(render_pipeline(plan("github", config=GATED_CONFIG)))
    assert {j for j in github if j.startswith(("promote-", "abort-"))} == {
        "promote-staging",
        "abort-staging",
        "promote-production",
        "abort-production",
    }
    gitlab = jobs_of(render_pipeline(plan("gitlab", config=GATED_CONFIG)))
    assert {j for j in gitlab if j.startswith(("promote:", "abort:"))} == {
        "promote:staging",
        "abort:staging",
        "promote:production",
        "abort:production",
    }


def test_github_promote_is_the_protected_environments_gate_after_a_paused_deploy(
    repo: Path,
) -> None:
    jobs = jobs_of(render_pipeline(plan("github", config=GATED_CONFIG)))
    promote = jobs["promote-production"]
    assert promote["needs"] == ["deploy-production"]
    assert promote["if"] == "needs.deploy-production.outputs.phase == 'Paused'"
    # The environment of the same name: its required reviewers hold the job (the gate).
    assert promote["environment"]["name"] == "production"
    step = next(s for s in promote["steps"] if s.get("id") == "promote")
    assert step["uses"] == "org/ci-deploy@v1"
    assert step["with"]["command"] == "promote"
    assert step["with"]["environment"] == "production"
    assert step["with"]["full"] is True
    assert "image" not in step["with"]  # promote continues from the state in the cluster
    assert set(promote["outputs"]) >= {"phase", "revision", "previous-revision"}
    # The last environment's report follows the promotion too.
    assert [s["with"]["command"] for s in promote["steps"][1:]] == ["promote", "status"]


def test_github_abort_runs_when_the_gate_was_not_passed(repo: Path) -> None:
    jobs = jobs_of(render_pipeline(plan("github", config=GATED_CONFIG)))
    abort = jobs["abort-production"]
    assert abort["needs"] == ["deploy-production", "promote-production"]
    assert abort["if"] == (
        "always() && needs.deploy-production.outputs.phase == 'Paused' && "
        "needs.promote-production.outputs.phase == ''"
    )
    assert abort["environment"] == "production"  # its KUBECONFIG secret
    step = next(s for s in abort["steps"] if s.get("id") == "abort")
    assert step["with"]["command"] == "abort"
    assert step["with"]["environment"] == "production"


def test_github_chain_waits_for_a_gated_environments_promotion(repo: Path) -> None:
    jobs = jobs_of(render_pipeline(plan("github", config=GATED_CONFIG)))
    assert jobs["deploy-staging"]["needs"] == ["deploy-dev"]
    assert "if" not in jobs["deploy-staging"]  # after a rolling environment: plain needs
    production = jobs["deploy-production"]
    assert production["needs"] == ["deploy-staging", "promote-staging"]
    assert production["if"] == (
        "${{ !cancelled() && needs.deploy-staging.result == 'success' && "
        "(needs.promote-staging.result == 'success' || "
        "needs.promote-staging.result == 'skipped') }}"
    )
    with_verify = jobs_of(render_pipeline(plan("github", every_stage=True, config=GATED_CONFIG)))
    assert with_verify["verify-staging"]["needs"] == ["deploy-staging", "promote-staging"]
    assert with_verify["deploy-production"]["needs"] == ["verify-staging", "build"]


def test_gitlab_promote_is_a_blocking_manual_deployment_job_beside_the_deploy(
    repo: Path,
) -> None:
    doc = jobs_of(render_pipeline(plan("gitlab", config=GATED_CONFIG)))
    deploy, promote = doc["deploy:production"], doc["promote:production"]
    assert promote["extends"] == ".ci-deploy-promote"
    assert promote["needs"] == ["deploy:production"]
    assert promote["stage"] == deploy["stage"]  # later stages wait for the blocking gate
    assert promote["rules"][-1] == {
        "if": '$CI_COMMIT_BRANCH == "main"',
        "when": "manual",
        "allow_failure": False,
    }
    assert promote["rules"][0] == deploy["rules"][0]  # no promote job without its deploy
    assert promote["resource_group"] == deploy["resource_group"] == "ci-deploy-shop-production"
    assert promote["environment"]["name"] == "production"
    assert "action" not in promote["environment"]  # start: it finishes this commit's deploy
    assert promote["environment"]["on_stop"] == "rollback:production"
    assert promote["variables"]["CI_DEPLOY_ENVIRONMENT"] == "production"


def test_gitlab_abort_is_manual_and_may_fail(repo: Path) -> None:
    doc = jobs_of(render_pipeline(plan("gitlab", config=GATED_CONFIG)))
    abort = doc["abort:staging"]
    assert abort["extends"] == ".ci-deploy-abort"
    assert abort["needs"] == ["deploy:staging"]
    assert abort["rules"][-1]["when"] == "manual"
    assert abort["rules"][-1]["allow_failure"] is True
    assert abort["resource_group"] == doc["deploy:staging"]["resource_group"]
    assert abort["environment"] == {"name": "staging", "action": "access"}


def test_gitlab_chain_needs_the_promotion_and_the_report_passes_a_pause(repo: Path) -> None:
    doc = jobs_of(render_pipeline(plan("gitlab", config=GATED_CONFIG)))
    assert doc["deploy:production"]["needs"] == ["status:staging", "promote:staging"]
    assert doc["status:staging"]["variables"]["CI_DEPLOY_STATUS_PASSES"] == "Succeeded Paused"
    assert "CI_DEPLOY_STATUS_PASSES" not in doc["status:dev"]["variables"]
    assert doc["deploy:staging"]["needs"] == ["status:dev"]
    with_verify = jobs_of(render_pipeline(plan("gitlab", every_stage=True, config=GATED_CONFIG)))
    assert with_verify["verify:staging"]["needs"] == ["promote:staging"]
    assert with_verify["deploy:production"]["needs"] == ["verify:staging", "build"]
