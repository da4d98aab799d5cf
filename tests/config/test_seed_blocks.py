"""The seed document's YAML blocks, pasted as they are, are a valid configuration."""

from __future__ import annotations

from pathlib import Path

from ci_deploy.config import Duration, Threshold, load_config

SEED_BLOCKS = Path(__file__).parent / "data" / "seed_blocks.yml"


def test_seed_canary_deployment_block_is_accepted_as_canary() -> None:
    canary = load_config(SEED_BLOCKS).canary
    assert canary is not None
    assert [(s.name, s.traffic_percentage) for s in canary.stages] == [
        ("initial", 5),
        ("expanded", 25),
        ("majority", 75),
        ("full", 100),
    ]
    assert canary.stages[1].duration == Duration(1800.0)
    assert canary.stages[0].success_criteria == {
        "error_rate": Threshold("<", 0.1, "%"),
        "response_time_p95": Threshold("<", 500, "ms"),
        "cpu_usage": Threshold("<", 70, "%"),
        "memory_usage": Threshold("<", 80, "%"),
    }
    assert canary.stages[3].monitor_duration == Duration(7200.0)
    assert [(t.metric, t.threshold, t.manual) for t in canary.rollback_triggers] == [
        ("error_rate", Threshold(">", 0.5, "%"), False),
        ("response_time_p95", Threshold(">", 1000, "ms"), False),
        ("cpu_usage", Threshold(">", 90, "%"), False),
        ("manual_trigger", None, True),
    ]


def test_seed_blue_green_block_is_accepted_with_its_numbered_process() -> None:
    blue_green = load_config(SEED_BLOCKS).blue_green
    assert blue_green is not None
    assert blue_green.environments["blue"].cluster == "production-blue"
    assert blue_green.environments["green"].load_balancer_target == "green-target-group"
    assert blue_green.environments["green"].database == "prod-db-green"
    # YAML folds the seed's numbered lines into one string; it is split back into steps.
    assert blue_green.deployment_process == (
        "Deploy new version to inactive environment (green)",
        "Run smoke tests on green environment",
        "Switch load balancer traffic to green",
        "Monitor green environment for issues",
        "Keep blue environment as rollback option",
        "Decommission blue after successful green deployment",
    )


def test_seed_environments_block_is_accepted() -> None:
    cfg = load_config(SEED_BLOCKS)
    assert cfg.environment_names == ["development", "staging", "production"]
    dev = cfg.environment("development")
    assert dev.namespace == "web-app-development"  # default: <app>-<environment>
    assert (dev.replicas, dev.resources.cpu, dev.resources.memory) == (1, "100m", "128Mi")
    assert (dev.database, dev.log_level) == ("dev-db", "debug")
    assert dev.external_services == {"payment_gateway": "https://sandbox.payment.com"}
    prod = cfg.environment("production")
    assert (prod.replicas, prod.resources.cpu, prod.log_level) == (5, "500m", "warn")
    assert prod.strategy == "rolling"  # no strategy named: the default
