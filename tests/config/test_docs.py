"""docs/configuration.md stays true: its reference is current and its examples load."""

from __future__ import annotations

import re
from pathlib import Path

from ci_deploy.config import load_config_text
from ci_deploy.config.reference import markdown_reference, replace_generated

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def test_reference_in_the_docs_matches_the_schema() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert markdown_reference() in text
    assert (
        replace_generated(text) == text
    )  # regenerate: python -m ci_deploy.config.reference --write docs/configuration.md


def test_reference_names_every_key_of_the_example() -> None:
    reference = markdown_reference()
    for key in (
        "canary.stages[].success_criteria",
        "environments.<environment>.replicas",
        "notifications.slack.webhook_url_env",
        "blue_green.environments.<blue|green>.cluster",
    ):
        assert f"`{key}`" in reference.replace("\\|", "|")


def test_complete_examples_in_the_docs_are_valid() -> None:
    blocks = re.findall(r"```yaml\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    complete = [b for b in blocks if b.startswith("app:")]
    assert complete, "the docs show at least one complete file"
    for block in complete:
        cfg = load_config_text(block, "docs/configuration.md")
        assert cfg.environment_names
