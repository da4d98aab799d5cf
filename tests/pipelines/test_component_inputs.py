"""The GitLab component's input spec agrees with the CLI it hands the values to."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from ci_deploy.commands._rollout_options import duration_seconds
from ci_deploy.config import STRATEGIES as CONFIG_STRATEGIES
from ci_deploy.config.values import DURATION_PATTERN
from ci_deploy.errors import UserInputError
from ci_deploy.rollout.strategies import STRATEGIES as ROLLOUT_STRATEGIES

ROOT = Path(__file__).resolve().parents[2]
COMPONENT = ROOT / "templates" / "ci-deploy" / "template.yml"


def spec_inputs() -> dict[str, dict[str, Any]]:
    spec = next(yaml.safe_load_all(COMPONENT.read_text(encoding="utf-8")))
    inputs: dict[str, dict[str, Any]] = spec["spec"]["inputs"]
    return inputs


def component_body() -> str:
    return COMPONENT.read_text(encoding="utf-8").split("\n---\n", 1)[1]


def test_every_input_says_what_it_is_for() -> None:
    missing = [name for name, spec in spec_inputs().items() if not spec.get("description")]
    assert missing == []


def test_the_timeout_regex_is_the_clis_duration_pattern() -> None:
    assert spec_inputs()["timeout"]["regex"] == DURATION_PATTERN


ACCEPTED = ("10m", "1h30m", "90s", "500ms", "1.5h", "0s", "2h15m30s", "1m500ms")
REFUSED = ("10", "10 m", "-5m", "1d", "m", "", "10M", "1h 30m", "\u0661\u0660m", "1.m", ".5m")


@pytest.mark.parametrize("value", ACCEPTED + REFUSED)
def test_the_component_and_the_cli_accept_the_same_durations(value: str) -> None:
    # Python's re and GitLab's RE2 read this pattern alike: no look-around, ASCII classes.
    by_component = re.search(spec_inputs()["timeout"]["regex"], value) is not None
    try:
        duration_seconds(value, "--timeout")
        by_cli = True
    except UserInputError:
        by_cli = False
    assert by_component == by_cli == (value in ACCEPTED), value


def test_strategy_inputs_offer_the_clis_strategies_or_the_configurations() -> None:
    for env in ("staging", "production"):
        options = spec_inputs()[f"{env}-strategy"]["options"]
        assert options[0] == ""  # empty: the configuration's strategy
        assert set(options[1:]) == set(CONFIG_STRATEGIES) == set(ROLLOUT_STRATEGIES)
        assert f"CI_DEPLOY_ENVIRONMENT_STRATEGY: $[[ inputs.{env}-strategy ]]" in component_body()


def test_boolean_inputs_reach_rules_that_compare_them_with_true() -> None:
    body = component_body()
    booleans = [name for name, spec in spec_inputs().items() if spec.get("type") == "boolean"]
    assert booleans  # build, scan, validate, staging, production, promote
    for name in booleans:
        found = re.search(rf'(CI_DEPLOY_\w+): "\$\[\[ inputs\.{name} \]\]"', body)
        assert found, name
        # GitLab interpolates a boolean input as true or false; a rule reading anything else
        # ("1", "yes") would never switch the job.
        assert re.search(rf'\${found.group(1)} != "true"', body), name


def test_inputs_with_options_have_a_default_among_them() -> None:
    for name, spec in spec_inputs().items():
        if "options" in spec:
            assert spec["default"] in spec["options"], name


def test_the_documented_input_table_is_the_specs() -> None:
    import subprocess
    import sys

    script = ROOT / "scripts" / "component_inputs.py"
    check = subprocess.run(
        [sys.executable, str(script), "--check"], capture_output=True, text=True, check=False
    )
    assert check.returncode == 0, check.stdout
    # the per-environment inputs are documented
    for path in (ROOT / "docs" / "ci.md", ROOT / "templates" / "ci-deploy" / "README.md"):
        assert "| `staging-strategy` |" in path.read_text(encoding="utf-8"), path
