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


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ci-deploy.yml").write_text(CONFIG, encoding="utf-8")
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)  # actionlint finds the repo
    return tmp_path


def plan(platform: str, *, every_stage: bool = False) -> PipelinePlan:
    made = plan_pipeline(load_config_text(CONFIG, "ci-deploy.yml"), platform)
    if every_stage:  # what the templates emit once build, scan and verify exist
        made = dataclasses.replace(made, stages=dict.fromkeys(made.stages, True), notes=[])
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


@pytest.mark.parametrize("every_stage", [False, True])
def test_github_workflow_passes_actionlint_and_the_schema(repo: Path, every_stage: bool) -> None:
    text = render_pipeline(plan("github", every_stage=every_stage))
    actionlint(repo, text)
    schema_check("vendor.github-workflows", repo, text)


@pytest.mark.parametrize("every_stage", [False, True])
def test_gitlab_pipeline_passes_the_schema(repo: Path, every_stage: bool) -> None:
    schema_check("vendor.gitlab-ci", repo, render_pipeline(plan("gitlab", every_stage=every_stage)))


def test_github_jobs_chain_environments_and_leave_out_missing_verbs(repo: Path) -> None:
    made = plan("github")
    jobs = jobs_of(render_pipeline(made))
    expected = ["validate", "deploy-staging", "deploy-production", "rollback"]
    expected[:0] = [stage for stage in ("build", "scan") if made.has(stage)]
    if made.has("verify"):
        expected[-1:-1] = ["verify-staging", "verify-production"]
    assert sorted(jobs) == sorted(expected)
    assert jobs["deploy-production"]["needs"] == (
        ["verify-staging"] if made.has("verify") else ["deploy-staging"]
    )
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
