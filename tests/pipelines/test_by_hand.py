"""What a rendered pipeline leaves to the platform's settings: named as the templates use them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.pipelines.releases import RELEASE

from ci_deploy.config import load_config_text
from ci_deploy.pipelines import PipelinePlan, plan_pipeline

# A rolling development, a blue-green staging (can pause), a rolling production (the last).
CONFIG = """\
app: shop
image: {repository: registry.example.com/acme/shop}
blue_green: {auto_promote: false}
environments:
  development: {replicas: 1}
  staging: {replicas: 2, strategy: blue_green}
  production: {replicas: 3}
"""
REGISTRY = "build:\n  registry: {username_env: REG_USER, password_env: REG_PASSWORD}\n"


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def plan(platform: str, config: str = CONFIG, **options: Any) -> PipelinePlan:
    return plan_pipeline(
        load_config_text(config, "ci-deploy.yml"), platform, release=RELEASE, **options
    )


def test_github_gates_are_environment_reviewers_and_each_environment_has_its_secret() -> None:
    assert plan("github").by_hand == [
        "GitHub environment staging: required reviewers (Settings → Environments → staging);"
        " deploy-staging and promote-staging wait for their approval: that is the gate",
        "GitHub environment production: required reviewers (Settings → Environments → "
        "production); deploy-production waits for their approval: that is the gate",
        "environment secret KUBECONFIG (the cluster's kubeconfig file) in each GitHub "
        "environment: development, staging, production (Settings → Environments → NAME → "
        "Environment secrets)",
    ]


def test_gitlab_approvers_only_where_the_deploy_is_gated() -> None:
    items = plan("gitlab", branch="release").by_hand
    assert items[:2] == [
        # approvals would hold staging's automatic deploy too: only who may run its promote
        "protected environment staging (Settings → CI/CD → Protected environments): who may"
        " deploy; only they run the manual promote:staging",
        "protected environment production (Settings → CI/CD → Protected environments): who"
        " may deploy, and approvers; only they run the manual deploy:production",
    ]
    assert items[2] == (
        "CI/CD variable KUBECONFIG of type File, protected, one per environment scope: "
        "development, staging, production (Settings → CI/CD → Variables), or the GitLab "
        "agent's; protected variables reach only protected branches, so release must be one"
    )
    assert len(items) == 3  # nothing builds: no registry or runner item


def test_a_single_environment_that_never_pauses_needs_no_protection() -> None:
    for platform in ("github", "gitlab"):
        items = plan(platform, environments=["development"]).by_hand
        assert len(items) == 1 and "KUBECONFIG" in items[0]
        assert "development" in items[0]


def test_a_pipeline_that_builds_names_the_registry_secrets_of_build_registry() -> None:
    built = CONFIG + REGISTRY
    github = plan("github", built).by_hand
    assert github[-1] == (
        "repository secrets REG_USER and REG_PASSWORD (build.registry): the build and scan jobs "
        "log in to registry.example.com with them"
    )
    gitlab = plan("gitlab", built).by_hand
    assert gitlab[-2] == (
        "CI/CD variables REG_USER and REG_PASSWORD (build.registry; masked, protected): the "
        "build and scan jobs log in to registry.example.com with them"
    )
    assert "docker:dind" in gitlab[-1]


def test_without_build_registry_the_job_credentials_and_their_limits() -> None:
    built = CONFIG + "build: {}\n"
    github = plan("github", built).by_hand
    assert github[-1] == (
        "registry credentials for registry.example.com: the job's GITHUB_TOKEN pushes to "
        "ghcr.io only; set build.registry (username_env, password_env) in ci-deploy.yml, "
        "render again and add those repository secrets"
    )
    on_ghcr = built.replace("registry.example.com/acme/shop", "ghcr.io/acme/shop")
    assert not any("registry" in item for item in plan("github", on_ghcr).by_hand)
    gitlab = plan("gitlab", built).by_hand
    assert "CI_REGISTRY_USER / CI_REGISTRY_PASSWORD" in gitlab[-2]
    assert "set build.registry in ci-deploy.yml" in gitlab[-2]
