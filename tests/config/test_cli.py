"""``ci-deploy config validate`` and ``config show`` through the real CLI entry point (what
validate renders: tests/config/test_validate_renders.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.config.error_cases import run_cli

from ci_deploy.config import load_config, load_config_text
from ci_deploy.config.dump import effective_document

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "web-app" / "ci-deploy.yml"
SEED_BLOCKS = Path(__file__).parent / "data" / "seed_blocks.yml"


def test_validate_reads_ci_deploy_yml_by_default(tmp_path: Path) -> None:
    (tmp_path / "ci-deploy.yml").write_text(EXAMPLE.read_text())
    outcome = run_cli(("config", "validate"), tmp_path)
    assert outcome.exit_code == 0
    assert outcome.stdout.startswith("ok: ci-deploy.yml: app web-app;")


@pytest.mark.parametrize("source", [EXAMPLE, SEED_BLOCKS], ids=["example", "seed-blocks"])
def test_show_round_trips_to_the_same_effective_values(source: Path, tmp_path: Path) -> None:
    cfg = load_config(source)
    for name in cfg.environment_names:
        outcome = run_cli(("-c", str(source), "config", "show", "--env", name), tmp_path)
        assert outcome.exit_code == 0, outcome.stderr
        assert outcome.stdout.startswith(f"# effective configuration of environment '{name}'")
        again = load_config_text(outcome.stdout, "shown.yml")
        assert again.environment_names == [name]
        assert again.environment(name) == cfg.environment(name)
        for section in ("app", "image", "strategy", "rolling", "canary"):
            assert getattr(again, section) == getattr(cfg, section), section
        # manifests show the host the environment serves (tests/config/test_show_host.py)
        shown = effective_document(again, name)["manifests"]
        assert shown == effective_document(cfg, name)["manifests"]
        for section in ("blue_green", "analysis", "notifications", "migrations"):
            assert getattr(again, section) == getattr(cfg, section), section


def test_show_prints_merged_values_in_canonical_form(tmp_path: Path) -> None:
    (tmp_path / "ci-deploy.yml").write_text(
        "app: shop\n"
        "image: {repository: registry.example.com/acme/shop}\n"
        "defaults:\n  replicas: 3\n  env: {A: '1', B: '2'}\n  resources: {cpu: 1}\n"
        "environments:\n  staging:\n    env: {B: '20'}\n    resources: {memory: 1Gi}\n"
        "rolling:\n  progress_deadline: 90s\n"
    )
    outcome = run_cli(("config", "show", "--env", "staging", "--format", "json"), tmp_path)
    assert outcome.exit_code == 0, outcome.stderr
    data = json.loads(outcome.stdout)
    assert data["environments"] == {
        "staging": {
            "namespace": "shop-staging",
            "replicas": 3,
            "resources": {"cpu": "1", "memory": "1Gi"},
            "env": {"A": "1", "B": "20"},
            "external_services": {},
            "strategy": "rolling",
            "create_namespace": False,
            "protected": False,
        }
    }
    assert data["rolling"] == {
        "max_surge": "25%",
        "max_unavailable": "25%",
        "progress_deadline": "1m30s",
    }


def test_show_needs_env(tmp_path: Path) -> None:
    outcome = run_cli(("-c", str(EXAMPLE), "config", "show"), tmp_path)
    assert outcome.exit_code == 2
    assert "Missing option '--env'" in outcome.stderr


def test_show_unknown_env_lists_the_known_ones(tmp_path: Path) -> None:
    outcome = run_cli(("-c", str(EXAMPLE), "config", "show", "--env", "qa"), tmp_path)
    assert outcome.exit_code == 2
    assert outcome.stderr == (
        f"error: unknown environment 'qa' in {EXAMPLE}; known environments: development,"
        " staging, production\n"
    )


def test_errors_are_also_github_annotations_under_actions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    (tmp_path / "ci-deploy.yml").write_text(
        "app: shop\nimage: {repository: registry.example.com/acme/shop}\n"
        "environments:\n  staging:\n    replica: 2\n    log_level: loud\n"
    )
    outcome = run_cli(("config", "validate"), tmp_path)
    assert outcome.exit_code == 2
    assert outcome.stdout.splitlines() == [
        "::error file=ci-deploy.yml,line=5,col=5::environments.staging.replica: unknown key"
        " 'replica' (did you mean 'replicas'?)",
        "::error file=ci-deploy.yml,line=6,col=16::environments.staging.log_level: expected one"
        " of trace, debug, info, warn, warning, error, fatal, critical, found a string ('loud')",
    ]
    assert outcome.stderr.count("error: ci-deploy.yml:") == 2


def test_no_annotations_outside_github(tmp_path: Path) -> None:
    (tmp_path / "ci-deploy.yml").write_text("app: shop\n")
    outcome = run_cli(("config", "validate"), tmp_path)
    assert outcome.exit_code == 2
    assert outcome.stdout == ""
    assert "::error" not in outcome.stderr


def test_every_verb_that_loads_the_config_annotates_on_github(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    (tmp_path / "ci-deploy.yml").write_text(
        "app: shop\nimage: {repository: registry.example.com/acme/shop}\n"
        "environments:\n  staging:\n    replica: 2\n"
    )
    outcome = run_cli(("render", "manifests", "--env", "staging"), tmp_path)
    assert outcome.exit_code == 2
    assert outcome.stdout.splitlines() == [
        "::error file=ci-deploy.yml,line=5,col=5::environments.staging.replica: unknown key"
        " 'replica' (did you mean 'replicas'?)",
    ]


def test_other_errors_are_github_annotations_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    outcome = run_cli(("-c", str(EXAMPLE), "render", "manifests", "--env", "prod"), tmp_path)
    assert outcome.exit_code == 2
    annotations = [line for line in outcome.stdout.splitlines() if line.startswith("::error")]
    assert len(annotations) == 1
    assert annotations[0].startswith("::error::unknown environment 'prod'")
    assert "(did you mean 'production'?)" in annotations[0]
