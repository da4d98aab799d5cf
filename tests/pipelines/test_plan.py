"""What goes into a rendered pipeline: environments, gates, verbs that exist, bad options."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from tests.pipelines.releases import RELEASE

import ci_deploy.commands
from ci_deploy.config import Config, load_config_text
from ci_deploy.config.model import BuildConfig, ScanConfig
from ci_deploy.errors import UserInputError
from ci_deploy.pipelines import plan_pipeline, verb_available
from ci_deploy.pipelines.model import GitLabTemplate, parse_gitlab_template
from ci_deploy.verbs import VERBS

COMMANDS = Path(ci_deploy.commands.__file__).parent

CONFIG = """\
app: shop
image: {repository: registry.example.com/acme/shop}
environments:
  development: {replicas: 1}
  staging: {replicas: 2, url: "https://staging.example.com"}
  production: {replicas: 3, url: "https://shop.example.com"}
"""


@pytest.fixture
def cfg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Config:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "deploy").mkdir()
    return load_config_text(CONFIG, "deploy/ci-deploy.yml")


def test_every_environment_in_file_order_last_one_gated(cfg: Config) -> None:
    plan = plan_pipeline(cfg, "github", release=RELEASE)
    assert [(e.name, e.gated, e.previous) for e in plan.environments] == [
        ("development", False, None),
        ("staging", False, "development"),
        ("production", True, "staging"),
    ]
    assert plan.config_path == "deploy/ci-deploy.yml"
    assert plan.repository == "registry.example.com/acme/shop"


def test_chosen_environments_keep_the_given_order(cfg: Config) -> None:
    plan = plan_pipeline(cfg, "gitlab", release=RELEASE, environments=["staging", "production"])
    assert [e.name for e in plan.environments] == ["staging", "production"]
    single = plan_pipeline(cfg, "gitlab", release=RELEASE, environments=["staging"])
    assert [e.gated for e in single.environments] == [False]  # nothing to gate before


def test_unknown_or_repeated_environment_is_bad_input(cfg: Config) -> None:
    with pytest.raises(UserInputError, match="did you mean 'production'"):
        plan_pipeline(cfg, "github", release=RELEASE, environments=["staging", "prod"])
    with pytest.raises(UserInputError, match="repeated"):
        plan_pipeline(cfg, "github", release=RELEASE, environments=["staging", "staging"])


def test_stages_follow_the_verbs_that_exist(cfg: Config) -> None:
    asking = dataclasses.replace(cfg, build=BuildConfig(), scan=ScanConfig())
    plan = plan_pipeline(asking, "github", release=RELEASE)
    for stage in ("build", "scan", "verify"):  # stage name = verb = command module
        exists = (COMMANDS / f"{stage}.py").is_file()  # an oracle independent of verb_available
        assert plan.has(stage) is exists
        assert (f"no `{stage}` job" in " ".join(plan.notes)) is not exists


def test_build_and_scan_jobs_only_when_the_configuration_asks(cfg: Config) -> None:
    assert cfg.build is None and cfg.scan is None
    plan = plan_pipeline(cfg, "github", release=RELEASE)
    assert not plan.has("build") and not plan.has("scan")
    assert "the configuration has no build: section" in " ".join(plan.notes)
    scan_only = plan_pipeline(
        dataclasses.replace(cfg, scan=ScanConfig()), "gitlab", release=RELEASE
    )
    assert scan_only.has("scan") is (COMMANDS / "scan.py").is_file()
    assert not scan_only.has("build")
    assert plan.has("deploy") and plan.has("rollback") and plan.has("status")
    assert plan.has("validate")


def test_verb_available_checks_the_command_modules(monkeypatch: pytest.MonkeyPatch) -> None:
    assert verb_available("deploy") is True
    assert verb_available("config") is True
    assert verb_available("no-such-verb") is False
    # A verb the CLI lists whose module is not installed is not available.
    monkeypatch.setitem(VERBS, "ghost", ("ghost_verb_module", "Not here."))
    assert verb_available("ghost") is False


@pytest.mark.parametrize(
    ("value", "kind", "location", "ref"),
    [
        ("project:org/ci-deploy@v1", "project", "org/ci-deploy", "v1"),
        ("project:group/sub/ci-deploy@main", "project", "group/sub/ci-deploy", "main"),
        ("local", "local", ".gitlab-ci-template.yml", None),
        ("local:ci/template.yml", "local", "ci/template.yml", None),
        (
            "remote:https://gitlab.example.com/t.yml",
            "remote",
            "https://gitlab.example.com/t.yml",
            None,
        ),
    ],
)
def test_gitlab_template_forms(value: str, kind: str, location: str, ref: str | None) -> None:
    parsed = parse_gitlab_template(value)
    assert (parsed.kind, parsed.location, parsed.ref) == (kind, location, ref)


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("gitlab_template", "project:org", "--gitlab-template"),
        ("gitlab_template", "remote:http://insecure/t.yml", "--gitlab-template"),
        ("action_ref", "ci-deploy", "--action-ref"),
        ("action_ref", "owner/ci-deploy", "--action-ref"),
        ("tool_image", "ghcr.io/owner/ci-deploy:v1 --x", "--image"),
        ("branch", "main; rm -rf /", "--branch"),
    ],
)
def test_bad_options_are_bad_input(cfg: Config, option: str, value: str, message: str) -> None:
    with pytest.raises(UserInputError, match=message):
        plan_pipeline(cfg, "github", release=RELEASE, **{option: value})


def test_configuration_outside_the_repository_is_bad_input(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "repo").mkdir()
    monkeypatch.chdir(tmp_path / "repo")
    cfg = load_config_text(CONFIG, str(tmp_path / "elsewhere.yml"))
    with pytest.raises(UserInputError, match="outside the current directory"):
        plan_pipeline(cfg, "gitlab", release=RELEASE)


# -- which ci-deploy the pipeline names ------------------------------------------------------


def test_references_default_to_the_installed_release(cfg: Config) -> None:
    github = plan_pipeline(cfg, "github", release=RELEASE)
    assert github.action == "owner/ci-deploy@v1.2.3"
    gitlab = plan_pipeline(cfg, "gitlab", release=RELEASE)
    assert gitlab.gitlab_template == GitLabTemplate(
        "remote",
        "https://raw.githubusercontent.com/owner/ci-deploy/v1.2.3/.gitlab-ci-template.yml",
    )
    assert gitlab.tool_image is None  # the template of that release pins its image
    mirrored = dataclasses.replace(RELEASE, gitlab_project="tools/ci-deploy")
    assert plan_pipeline(cfg, "gitlab", release=mirrored).gitlab_template == GitLabTemplate(
        "project", "tools/ci-deploy", ref="v1.2.3"
    )


@pytest.mark.parametrize(
    ("platform", "what_to_pass"),
    [
        ("github", "--action-ref OWNER/REPO@REF"),
        ("gitlab", "--gitlab-template project:GROUP/NAME@REF, local[:PATH] or remote:https://URL"),
    ],
)
def test_a_development_install_must_be_told_which_ci_deploy(
    cfg: Config, platform: str, what_to_pass: str
) -> None:
    # the other platform's option does not name ci-deploy on this one
    other = {"github": {"gitlab_template": "local"}, "gitlab": {"action_ref": "me/ci-deploy@v2"}}
    with pytest.raises(UserInputError) as caught:
        plan_pipeline(cfg, platform, release=None, **other[platform])
    assert caught.value.message == (
        f"this ci-deploy is a development install (no release.json): pass {what_to_pass}"
    )
    assert caught.value.exit_code == 2


def test_explicit_references_win_over_the_release(cfg: Config) -> None:
    github = plan_pipeline(cfg, "github", release=RELEASE, action_ref="me/fork@0a1b2c3")
    assert github.action == "me/fork@0a1b2c3"
    assert github.gitlab_template is None
    gitlab = plan_pipeline(
        cfg,
        "gitlab",
        release=RELEASE,
        gitlab_template="local:ci/template.yml",
        tool_image="registry.example.com/tools/ci-deploy:v2.0.0",
    )
    assert gitlab.gitlab_template == GitLabTemplate(
        "local", "ci/template.yml", file="ci/template.yml"
    )
    assert gitlab.tool_image == "registry.example.com/tools/ci-deploy:v2.0.0"
    assert gitlab.action is None


def test_a_wrong_value_for_the_other_platform_is_still_bad_input(cfg: Config) -> None:
    with pytest.raises(UserInputError, match="--gitlab-template 'project:org'"):
        plan_pipeline(cfg, "github", release=RELEASE, gitlab_template="project:org")


def test_image_names_the_gitlab_jobs_image_and_is_a_note_on_github(cfg: Config) -> None:
    image = "ghcr.io/owner/ci-deploy:v1.2.3@sha256:" + "0" * 64
    assert plan_pipeline(cfg, "gitlab", release=RELEASE, tool_image=image).tool_image == image
    github = plan_pipeline(cfg, "github", release=RELEASE, tool_image=image)
    assert github.tool_image is None
    assert (
        "--image is for GitLab's jobs: the action owner/ci-deploy@v1.2.3 runs its own image"
        in github.notes
    )
