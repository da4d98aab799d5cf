"""The state record's JSON: schema version, camelCase keys, round trip, and errors."""

from __future__ import annotations

import json

import pytest

from ci_deploy.kube.state import STATE_API_VERSION, StateError, StateRecord, record_of


def sample() -> StateRecord:
    return StateRecord(
        app="web-app",
        environment="staging",
        strategy="rolling",
        phase="Succeeded",
        revision="registry.example.com/acme/web-app:1.2.3",
        previous_revision="registry.example.com/acme/web-app:1.2.2",
        step="4/4 record",
        status_ids={"github-deployment": "42"},
        previous_template={"spec": {"containers": [{"name": "app", "image": "x:1"}]}},
    )


def test_round_trip_keeps_every_field() -> None:
    record = sample()
    assert StateRecord.from_json(record.to_json()) == record


def test_json_is_versioned_camel_case_and_single_line() -> None:
    text = sample().to_json()
    doc = json.loads(text)
    assert "\n" not in text
    assert next(iter(doc)) == "apiVersion"
    assert doc["apiVersion"] == STATE_API_VERSION == "ci-deploy.dev/v1"
    assert doc["previousRevision"] == "registry.example.com/acme/web-app:1.2.2"
    assert doc["statusIds"] == {"github-deployment": "42"}
    for key in ("app", "environment", "strategy", "phase", "canaryWeight", "activeColor"):
        assert key in doc
    for key in ("migrationPhase", "analysis", "startedAt", "updatedAt", "finishedAt"):
        assert key in doc


def test_output_form_leaves_the_template_out() -> None:
    doc = json.loads(sample().to_json(with_template=False))
    assert "previousTemplate" not in doc
    assert len(sample().to_json(with_template=False)) < 1024


def test_unknown_schema_version_is_refused() -> None:
    doc = sample().to_dict()
    doc["apiVersion"] = "ci-deploy.dev/v9"
    with pytest.raises(StateError, match="v9"):
        StateRecord.from_json(json.dumps(doc))


def test_unknown_phase_and_missing_fields_are_refused() -> None:
    doc = sample().to_dict()
    doc["phase"] = "Exploded"
    with pytest.raises(StateError, match="Exploded"):
        StateRecord.from_json(json.dumps(doc))
    with pytest.raises(StateError, match="revision"):
        StateRecord.from_json(json.dumps({"apiVersion": STATE_API_VERSION, "app": "a"}))


def test_fields_from_a_newer_minor_writer_are_ignored() -> None:
    doc = sample().to_dict()
    doc["somethingNew"] = 1
    assert StateRecord.from_json(json.dumps(doc)).revision == sample().revision


def test_record_of_reads_the_annotation() -> None:
    deployment = {"metadata": {"annotations": {"ci-deploy.dev/state": sample().to_json()}}}
    found = record_of(deployment)
    assert found is not None and found.phase == "Succeeded"
    assert record_of({"metadata": {}}) is None
    assert record_of(None) is None
