"""Protobuf request bodies: kubectl's typed generators create what their dry run shows."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import requests

from kube_sandbox.protocol import protobuf
from kube_sandbox.testing import SandboxHandle


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _field(number: int, payload: bytes | int) -> bytes:
    if isinstance(payload, int):
        return _varint(number << 3) + _varint(payload)
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _envelope(api_version: str, kind: str, raw: bytes) -> bytes:
    type_meta = _field(1, api_version.encode()) + _field(2, kind.encode())
    return (
        protobuf.MAGIC
        + _field(1, type_meta)
        + _field(2, raw)
        + _field(4, b"application/vnd.kubernetes.protobuf")
    )


def test_decode_a_hand_encoded_configmap() -> None:
    labels = _field(11, _field(1, b"team") + _field(2, b"a"))
    meta = _field(1, b"cfg") + _field(2, b"") + labels + _field(8, b"")  # zero Time, empty string
    data = _field(2, _field(1, b"key") + _field(2, b"value"))
    binary = _field(3, _field(1, b"bin") + _field(2, b"\x00\x01"))
    body = _envelope("v1", "ConfigMap", _field(1, meta) + data + binary + _field(99, b"ignored"))
    assert protobuf.decode(body) == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "cfg", "labels": {"team": "a"}},
        "data": {"key": "value"},
        "binaryData": {"bin": "AAE="},
    }


def test_pointer_zero_is_kept_and_int_or_string_decoded() -> None:
    rolling = _field(1, _field(1, 1) + _field(3, b"25%")) + _field(2, _field(1, 0) + _field(2, 1))
    spec = _field(1, 0) + _field(4, _field(1, b"RollingUpdate") + _field(2, rolling)) + _field(5, 0)
    body = _envelope("apps/v1", "Deployment", _field(1, _field(1, b"d")) + _field(2, spec))
    decoded = protobuf.decode(body)
    assert decoded["spec"] == {
        "replicas": 0,
        "strategy": {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": 1},
        },
    }


def test_unknown_kinds_and_broken_bodies_are_refused(sandbox: SandboxHandle) -> None:
    url = sandbox.url + "/api/v1/namespaces/default/pods"
    headers = {"Content-Type": "application/vnd.kubernetes.protobuf"}
    resp = requests.post(url, data=_envelope("v1", "Pod", b""), headers=headers, timeout=5)
    assert resp.status_code == 415 and "not 'Pod'" in resp.json()["message"]
    resp = requests.post(url, data=b"k8s\x00\x0a\xff", headers=headers, timeout=5)
    assert resp.status_code == 400 and "invalid protobuf body" in resp.json()["message"]


GENERATORS = [
    ["create", "namespace", "team-a"],
    ["create", "configmap", "cfg", "--from-literal=a=1", "--from-literal=b=2"],
    ["create", "secret", "generic", "token", "--from-literal=token=abc"],
    ["create", "deployment", "web", "--image=nginx:1.25", "--replicas=3", "--port=8080"],
    ["create", "deployment", "idle", "--image=busybox:1", "--replicas=0"],
    ["create", "service", "clusterip", "svc", "--tcp=80:8080"],
    ["create", "service", "nodeport", "np", "--tcp=443:8443"],
]


def _contains(expected: Any, actual: Any, path: str = "") -> list[str]:
    """Where ``actual`` lacks or differs from what ``expected`` says (server may add more)."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{path}: {actual!r}"]
        return [
            problem
            for key, value in expected.items()
            if key != "creationTimestamp"
            for problem in (
                _contains(value, actual[key], f"{path}.{key}")
                if key in actual
                else [f"{path}.{key} missing"]
            )
        ]
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return [f"{path}: {actual!r} != {expected!r}"]
        return [
            p
            for i, (e, a) in enumerate(zip(expected, actual, strict=True))
            for p in _contains(e, a, f"{path}[{i}]")
        ]
    return [] if expected == actual else [f"{path}: {actual!r} != {expected!r}"]


@pytest.mark.kubectl
@pytest.mark.parametrize("args", GENERATORS, ids=lambda a: " ".join(a[:3]))
def test_kubectl_generators_create_what_their_dry_run_shows(
    bare_sandbox: SandboxHandle, tmp_path: Path, args: list[str]
) -> None:
    binary = os.environ.get("KUBECTL") or shutil.which("kubectl")
    assert binary, "kubectl is missing: scripts/setup.d/20-kubectl.sh installs it"
    base = [
        binary,
        "--kubeconfig",
        str(bare_sandbox.kubeconfig),
        "--cache-dir",
        str(tmp_path / "cache"),
    ]
    dry = subprocess.run(
        [*base, *args, "--dry-run=client", "-o", "json"], capture_output=True, text=True, timeout=60
    )
    assert dry.returncode == 0, dry.stderr
    real = subprocess.run([*base, *args, "-o", "json"], capture_output=True, text=True, timeout=60)
    assert real.returncode == 0, real.stderr
    expected, created = json.loads(dry.stdout), json.loads(real.stdout)
    assert _contains(expected, created) == []
    assert created["metadata"]["uid"]  # it was really created
