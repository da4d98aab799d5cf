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
from tests.pipelines.releases import PLACEHOLDERS, RELEASE, RELEASE_JSON

import ci_deploy.release
from ci_deploy.cli import cli, main
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


# A pipeline that builds and pushes with build.registry's credentials.
REGISTRY_CONFIG = (
    CONFIG + "build:\n  registry: {username_env: REG_USER, password_env: REG_PASSWORD}\n"
)


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ci-deploy.yml").write_text(CONFIG, encoding="utf-8")
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)  # actionlint finds the repo
    return tmp_path


def install_release(monkeypatch: pytest.MonkeyPatch, path: Path, text: str | None) -> None:
    """Make the CLI read ``text`` as its release.json (None: a development install, no file)."""
    if text is not None:
        path.write_text(text, encoding="utf-8")
    monkeypatch.setattr(ci_deploy.release, "release_resource", lambda: path)


@pytest.fixture
def released(
    repo: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """The CLI is an installed release (RELEASE): its release.json is a file outside ``repo``."""
    install_release(monkeypatch, tmp_path_factory.mktemp("package") / "release.json", RELEASE_JSON)
    return repo


def plan(platform: str, *, every_stage: bool = False, config: str = CONFIG) -> PipelinePlan:
    made = plan_pipeline(load_config_text(config, "ci-deploy.yml"), platform, release=RELEASE)
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


CONFIGS = pytest.mark.parametrize(
    "config", [CONFIG, GATED_CONFIG, REGISTRY_CONFIG], ids=["rolling", "gated", "registry"]
)


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
    assert deploy["uses"] == "owner/ci-deploy@v1.2.3"  # the release's action, at its tag
    assert deploy["with"]["environment"] == "staging"
    assert deploy["with"]["kubeconfig"] == "${{ secrets.KUBECONFIG }}"
    assert jobs["deploy-staging"]["environment"]["name"] == "staging"
    assert set(jobs["deploy-staging"]["outputs"]) >= {"phase", "revision", "previous-revision"}


def test_github_jobs_of_an_environment_queue_in_its_group_with_least_privilege(
    repo: Path,
) -> None:
    jobs = jobs_of(render_pipeline(plan("github", every_stage=True, config=GATED_CONFIG)))
    doc = yaml.safe_load(render_pipeline(plan("github", config=GATED_CONFIG)))
    assert "concurrency" not in doc  # not one group for the whole run: one per environment
    assert doc["permissions"] == {"contents": "read"}
    posting = {"contents": "read", "deployments": "write", "statuses": "write"}
    for env in ("dev", "staging", "production"):
        group = {"group": f"ci-deploy-shop-{env}", "cancel-in-progress": False}
        for kind in ("deploy", "verify", *(("promote", "abort") if env != "dev" else ())):
            job = jobs[f"{kind}-{env}"]
            assert job["concurrency"] == group, (kind, env)
            assert job["timeout-minutes"] >= 20
            if kind != "verify":  # it posts GitHub deployment statuses with the token
                assert job["permissions"] == posting
                assert job["steps"][1]["with"]["github-token"] == "${{ secrets.GITHUB_TOKEN }}"
            else:
                assert "permissions" not in job and "github-token" not in job["steps"][1]["with"]
        assert jobs[f"deploy-{env}"]["environment"]["url"].startswith("${{ steps.")
    # the canary's stage waits (5m) come on top of the rollout's timeout and the job's start
    assert jobs["deploy-production"]["timeout-minutes"] == 10 + 10 + 5
    assert jobs["deploy-dev"]["timeout-minutes"] == 20
    assert jobs["rollback"]["concurrency"]["group"] == "ci-deploy-shop-${{ inputs.rollback }}"
    assert jobs["rollback"]["permissions"] == posting
    assert jobs["rollback"]["environment"]["name"] == "${{ inputs.rollback }}"
    assert all("timeout-minutes" in job for job in jobs.values())
    assert not any("id-token" in (job.get("permissions") or {}) for job in jobs.values())


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
    assert doc["include"] == [  # the release's template, at its tag
        {
            "remote": "https://raw.githubusercontent.com/owner/ci-deploy/v1.2.3"
            "/.gitlab-ci-template.yml"
        }
    ]
    assert "CI_DEPLOY_TOOL_IMAGE" not in doc["variables"]  # that template pins its image
    assert doc["variables"]["CI_DEPLOY_IMAGE"] == "registry.example.com/acme/shop:$CI_COMMIT_SHA"
    assert doc["variables"]["CI_DEPLOY_STAGING_ENABLED"] == "false"
    staging, production = doc["deploy:staging"], doc["deploy:production"]
    assert staging["extends"] == production["extends"] == ".ci-deploy-deploy"
    assert production["rules"][-1]["when"] == "manual"
    assert "when" not in staging["rules"][-1]
    assert production["needs"] == ["status:staging"]
    assert production["resource_group"] == "ci-deploy-shop-production"
    assert production["environment"] == {
        "name": "production",
        "url": "$CI_DEPLOY_ENVIRONMENT_URL",
        "on_stop": "stop:production",
    }  # the teardown job, not the rollback: a rollback does not stop the environment
    stop = doc["stop:production"]
    assert stop["extends"] == ".ci-deploy-teardown"
    assert stop["environment"] == {"name": "production", "action": "stop"}
    assert stop["rules"][-1] == {**stop["rules"][-1], "when": "manual", "allow_failure": True}
    rollback = doc["rollback:production"]
    assert rollback["environment"]["action"] == "access"
    assert rollback["rules"][-1]["when"] == "manual"
    # a pipeline run with CI_DEPLOY_ROLLBACK=production: that rollback, at once, nothing else
    assert rollback["rules"][0] == {
        "if": '$CI_DEPLOY_ROLLBACK == "production"',
        "when": "on_success",
    }
    for name, job in doc.items():
        if isinstance(job, dict) and "rules" in job and not name.startswith("rollback:"):
            assert {"if": "$CI_DEPLOY_ROLLBACK", "when": "never"} in job["rules"], name


def test_cli_writes_the_file_and_reports_left_out_stages(released: Path) -> None:
    out = released / ".github" / "workflows" / "deploy.yml"
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
    assert step["uses"] == "owner/ci-deploy@v1.2.3"
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
    assert "on_stop" not in promote["environment"]
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


# -- rendered to be committed as they are ---------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Run:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def render_cli(capsys: pytest.CaptureFixture[str], *args: str) -> Run:
    """``ci-deploy render pipeline ARGS`` through the real entry point (its exit codes)."""
    try:
        main(["render", "pipeline", *args])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return Run(code, out, err)


@pytest.mark.parametrize("platform", ["github", "gitlab"])
def test_defaults_name_the_installed_release_never_a_placeholder(
    released: Path, platform: str, capsys: pytest.CaptureFixture[str]
) -> None:
    result = render_cli(capsys, "--platform", platform)
    assert result.exit_code == 0, result.output
    assert result.stdout == render_pipeline(plan(platform))
    for placeholder in PLACEHOLDERS:
        assert placeholder not in result.stdout
    expected = (
        "uses: owner/ci-deploy@v1.2.3"
        if platform == "github"
        else '- remote: "https://raw.githubusercontent.com/owner/ci-deploy/v1.2.3/'
    )
    assert expected in result.stdout


@pytest.mark.parametrize(
    ("platform", "option"), [("github", "--action-ref"), ("gitlab", "--gitlab-template")]
)
def test_a_development_install_without_the_option_is_exit_2_naming_it(
    repo: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    platform: str,
    option: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    install_release(monkeypatch, tmp_path / "no-release.json", None)
    result = render_cli(capsys, "--platform", platform)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert (
        f"error: this ci-deploy is a development install (no release.json): pass {option} "
        in result.stderr
    )


def test_explicit_options_win_over_the_release_and_the_old_names_still_work(
    released: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for flag in ("--action-ref", "--action"):
        result = render_cli(capsys, "--platform", "github", flag, "me/fork@0a1b2c3")
        assert result.exit_code == 0, result.output
        uses = {s["uses"] for j in jobs_of(result.stdout).values() for s in j["steps"]}
        assert "me/fork@0a1b2c3" in uses and not any("owner/ci-deploy" in u for u in uses)
    for flag in ("--image", "--tool-image"):
        result = render_cli(
            capsys,
            "--platform",
            "gitlab",
            "--gitlab-template",
            "local",
            flag,
            "ghcr.io/me/ci-deploy:v9",
        )
        assert result.exit_code == 0, result.output
        doc = jobs_of(result.stdout)
        assert doc["include"] == [{"local": ".gitlab-ci-template.yml"}]
        assert doc["variables"]["CI_DEPLOY_TOOL_IMAGE"] == "ghcr.io/me/ci-deploy:v9"


def test_a_malformed_release_file_is_exit_2_naming_it(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "release.json"
    install_release(monkeypatch, path, '{"version": "v1"}')
    result = render_cli(capsys, "--platform", "github")
    assert result.exit_code == 2
    assert f"error: {path}: malformed release file: missing action, gitlab_project" in (
        result.stderr
    )
    # an explicit reference does not need the release
    assert render_cli(capsys, "--platform", "github", "--action-ref", "me/fork@v1").exit_code == 0


@CONFIGS
def test_gitlab_rollback_is_not_the_stop_job_and_only_accesses_the_environment(
    repo: Path, config: str
) -> None:
    doc = jobs_of(render_pipeline(plan("gitlab", every_stage=True, config=config)))
    environments = {name: job["environment"] for name, job in doc.items() if "environment" in job}
    assert environments  # deploys, promotes, aborts, rollbacks, stops
    on_stop = {name: env["on_stop"] for name, env in environments.items() if "on_stop" in env}
    names = [env.name for env in plan("gitlab", config=config).environments]
    assert on_stop == {f"deploy:{name}": f"stop:{name}" for name in names}  # the teardowns
    stopping = {name for name, env in environments.items() if env.get("action") == "stop"}
    assert stopping == {f"stop:{name}" for name in names}
    rollbacks = [name for name in doc if name.startswith("rollback:")]
    assert len(rollbacks) == len(plan("gitlab", config=config).environments)
    for name in rollbacks:
        assert doc[name]["environment"] == {"name": name.partition(":")[2], "action": "access"}


def uncommented_head(text: str) -> list[str]:
    """The configure-by-hand items at the top of ``text``, their wrapped lines joined."""
    lines = text.splitlines()
    assert lines[0] == "# Configure by hand before the first run:"
    items: list[str] = []
    for line in lines[1:]:
        assert len(line) <= 100, line  # wrapped to the width of the rest of the file
        if line.startswith("#   - "):
            items.append(line[len("#   - ") :])
        elif line.startswith("#     "):
            items[-1] += " " + line[len("#     ") :]
        else:
            assert line == "#"  # the block ends with an empty comment line
            return items
    raise AssertionError("the block does not end")


@pytest.mark.parametrize("platform", ["github", "gitlab"])
def test_what_to_configure_by_hand_heads_the_file_and_follows_on_stderr(
    released: Path, platform: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (released / "ci-deploy.yml").write_text(GATED_CONFIG, encoding="utf-8")
    out = released / "pipeline.yml"
    result = render_cli(capsys, "--platform", platform, "-o", str(out))
    assert result.exit_code == 0, result.output
    items = plan(platform, config=GATED_CONFIG).by_hand
    assert len(items) == 3  # staging and production gates, KUBECONFIG
    text = out.read_text(encoding="utf-8")
    assert uncommented_head(text) == items
    printed = [line for line in result.stderr.splitlines() if line.startswith("configure by hand")]
    assert printed == [f"configure by hand: {item}" for item in items]
    # after the file is written, and beside the existing notes
    stderr = result.stderr.splitlines()
    assert stderr.index(f"wrote {out}") < stderr.index(printed[0])
    assert any(line.startswith("note: ") for line in stderr)


def test_build_registry_secrets_reach_the_build_and_scan_steps(repo: Path) -> None:
    made = plan("github", config=REGISTRY_CONFIG)
    assert made.has("build") and made.has("scan")
    github = jobs_of(render_pipeline(made))
    build = next(s for s in github["build"]["steps"] if s.get("id") == "build")
    assert build["env"] == {
        "REG_USER": "${{ secrets.REG_USER }}",
        "REG_PASSWORD": "${{ secrets.REG_PASSWORD }}",
    }
    trivy = next(s for s in github["scan"]["steps"] if "trivy" in s.get("uses", ""))
    assert trivy["env"] == {
        "TRIVY_USERNAME": "${{ secrets.REG_USER }}",
        "TRIVY_PASSWORD": "${{ secrets.REG_PASSWORD }}",
    }
    gitlab = jobs_of(render_pipeline(plan("gitlab", config=REGISTRY_CONFIG)))
    assert gitlab["scan"]["variables"] == {
        "TRIVY_USERNAME": "$REG_USER",
        "TRIVY_PASSWORD": "$REG_PASSWORD",
    }
    # without build.registry: the job's own token, as before
    plain = jobs_of(render_pipeline(plan("github", every_stage=True)))
    assert "env" not in next(s for s in plain["build"]["steps"] if s.get("id") == "build")


@CONFIGS
def test_gitlab_every_job_that_talks_to_a_cluster_has_its_environment(
    repo: Path, config: str
) -> None:
    doc = jobs_of(render_pipeline(plan("gitlab", every_stage=True, config=config)))
    cluster_verbs = ("deploy", "promote", "abort", "verify", "status", "rollback")
    talking = {name: job for name, job in doc.items() if name.partition(":")[0] in cluster_verbs}
    assert {name.partition(":")[0] for name in talking} >= {"deploy", "status", "rollback"}
    for name, job in talking.items():
        # so that an environment-scoped (or protected) KUBECONFIG reaches the job
        assert job["environment"]["name"] == name.partition(":")[2], name
    for name, job in talking.items():
        if name.startswith(("status:", "verify:")):
            assert job["environment"]["action"] == "verify", name  # no deployment recorded
