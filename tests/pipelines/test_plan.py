"""What goes into a rendered pipeline: environments, gates, verbs that exist, bad options."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

import ci_deploy.commands
from ci_deploy.config import Config, load_config_text
from ci_deploy.config.model import BuildConfig, ScanConfig
from ci_deploy.errors import UserInputError
from ci_deploy.pipelines import plan_pipeline, verb_available
from ci_deploy.pipelines.model import parse_gitlab_template
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
    plan = plan_pipeline(cfg, "github")
    assert [(e.name, e.gated, e.previous) for e in plan.environments] == [
        ("development", False, None),
        ("staging", False, "development"),
        ("production", True, "staging"),
    ]
    assert plan.config_path == "deploy/ci-deploy.yml"
    assert plan.repository == "registry.example.com/acme/shop"


def test_chosen_environments_keep_the_given_order(cfg: Config) -> None:
    plan = plan_pipeline(cfg, "gitlab", environments=["staging", "production"])
    assert [e.name for e in plan.environments] == ["staging", "production"]
    single = plan_pipeline(cfg, "gitlab", environments=["staging"])
    assert [e.gated for e in single.environments] == [False]  # nothing to gate before


def test_unknown_or_repeated_environment_is_bad_input(cfg: Config) -> None:
    with pytest.raises(UserInputError, match="did you mean 'production'"):
        plan_pipeline(cfg, "github", environments=["staging", "prod"])
    with pytest.raises(UserInputError, match="repeated"):
        plan_pipeline(cfg, "github", environments=["staging", "staging"])


def test_stages_follow_the_verbs_that_exist(cfg: Config) -> None:
    asking = dataclasses.replace(cfg, build=BuildConfig(), scan=ScanConfig())
    plan = plan_pipeline(asking, "github")
    for stage in ("build", "scan", "verify"):  # stage name = verb = command module
        exists = (COMMANDS / f"{stage}.py").is_file()  # an oracle independent of verb_available
        assert plan.has(stage) is exists
        assert (f"no `{stage}` job" in " ".join(plan.notes)) is not exists


def test_build_and_scan_jobs_only_when_the_configuration_asks(cfg: Config) -> None:
    assert cfg.build is None and cfg.scan is None
    plan = plan_pipeline(cfg, "github")
    assert not plan.has("build") and not plan.has("scan")
    assert "the configuration has no build: section" in " ".join(plan.notes)
    scan_only = plan_pipeline(dataclasses.replace(cfg, scan=ScanConfig()), "gitlab")
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
        ("action", "ci-deploy", "--action"),
        ("branch", "main; rm -rf /", "--branch"),
    ],
)
def test_bad_options_are_bad_input(cfg: Config, option: str, value: str, message: str) -> None:
    with pytest.raises(UserInputError, match=message):
        plan_pipeline(cfg, "github", **{option: value})


def test_configuration_outside_the_repository_is_bad_input(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "repo").mkdir()
    monkeypatch.chdir(tmp_path / "repo")
    cfg = load_config_text(CONFIG, str(tmp_path / "elsewhere.yml"))
    with pytest.raises(UserInputError, match="outside the current directory"):
        plan_pipeline(cfg, "gitlab")
