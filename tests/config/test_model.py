"""The typed model built from the example configuration (examples/web-app/ci-deploy.yml)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ci_deploy.config import Duration, Threshold, load_config
from ci_deploy.config.model import DEFAULT_SLACK_EVENTS
from ci_deploy.errors import UserInputError

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "web-app" / "ci-deploy.yml"


def test_example_top_level_values() -> None:
    cfg = load_config(EXAMPLE)
    assert cfg.source == str(EXAMPLE)
    assert cfg.app == "web-app"
    assert cfg.image.repository == "registry.example.com/acme/web-app"
    assert cfg.environment_names == ["development", "staging", "production"]
    assert cfg.strategy == "rolling"
    assert cfg.manifests.templates is None
    assert cfg.manifests.port == 8080
    assert cfg.manifests.health_path == "/health"
    assert cfg.manifests.ingress is not None and cfg.manifests.ingress.host == "app.example.com"
    assert cfg.rolling.max_surge == 1 and cfg.rolling.max_unavailable == 1
    assert cfg.rolling.progress_deadline == Duration(600.0)


def test_example_environments_are_merged_with_defaults() -> None:
    cfg = load_config(EXAMPLE)
    prod = cfg.environment("production")
    assert prod.name == "production"
    assert prod.namespace == "web-app-prod"
    assert prod.cluster == "production"
    assert prod.replicas == 5
    assert (prod.resources.cpu, prod.resources.memory) == ("500m", "512Mi")
    assert prod.log_level == "warn"  # the environment wins over defaults.log_level
    assert prod.env == {
        "HTTP_PORT": "8080",
        "METRICS_ENABLED": "true",
        "FEATURE_NEW_CHECKOUT": "false",
    }
    assert prod.external_services == {"payment_gateway": "https://api.payment.com"}
    assert prod.database == "prod-db"
    assert prod.url == "https://app.example.com"
    assert prod.strategy == "canary"
    dev = cfg.environment("development")
    assert (dev.namespace, dev.replicas, dev.log_level) == ("web-app-dev", 1, "debug")
    assert dev.url is None
    assert dev.strategy == "rolling"
    assert dev.env == {"HTTP_PORT": "8080", "METRICS_ENABLED": "true"}


def test_example_canary_stages_are_typed() -> None:
    canary = load_config(EXAMPLE).canary
    assert canary is not None
    assert [s.name for s in canary.stages] == ["initial", "expanded", "majority", "full"]
    assert [s.traffic_percentage for s in canary.stages] == [5, 25, 75, 100]
    first = canary.stages[0]
    assert first.duration is not None and first.duration.seconds == 900.0
    assert first.success_criteria["error_rate"] == Threshold("<", 0.1, "%")
    assert first.success_criteria["response_time_p95"] == Threshold("<", 500.0, "ms")
    last = canary.stages[-1]
    assert last.duration is None
    assert last.monitor_duration is not None and last.monitor_duration.seconds == 7200.0
    triggers = {t.metric: t for t in canary.rollback_triggers}
    assert triggers["error_rate"].threshold == Threshold(">", 0.5, "%")
    assert triggers["response_time_p95"].threshold == Threshold(">", 1000.0, "ms")
    assert triggers["manual_trigger"].manual is True


def test_example_thin_sections() -> None:
    cfg = load_config(EXAMPLE)
    assert cfg.analysis.prometheus is not None
    assert cfg.analysis.prometheus.address == "http://prometheus.monitoring:9090"
    assert "error_rate" in cfg.analysis.prometheus.queries
    assert cfg.notifications.slack is None and cfg.notifications.pagerduty is None
    assert cfg.notifications.github.enabled and cfg.notifications.github.commit_status
    assert cfg.notifications.github.token_env == "GITHUB_TOKEN"
    assert "step" not in DEFAULT_SLACK_EVENTS and "rollback_failed" in DEFAULT_SLACK_EVENTS
    assert cfg.migrations is not None and cfg.migrations.command == "alembic upgrade head"


def test_unknown_environment_suggests_the_close_name() -> None:
    cfg = load_config(EXAMPLE)
    with pytest.raises(UserInputError) as info:
        cfg.environment("prod")
    assert info.value.exit_code == 2
    assert info.value.message == (
        f"unknown environment 'prod' in {EXAMPLE} (did you mean 'production'?);"
        " known environments: development, staging, production"
    )
