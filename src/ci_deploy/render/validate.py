"""Offline schema validation of rendered objects.

Kubernetes kinds are checked against the schemas bundled in PyPI ``kubernetes-validate``
(strict variant: unknown fields are errors), Gateway API HTTPRoute against the schema shipped
in ``ci_deploy/render/schemas``. kubernetes-validate's own ``validate()`` re-reads and re-parses
the 1.3 MB definitions file for every object; we load each schema file once per process and
keep one validator per kind, and we report every error of an object, not only the first.
"""

from __future__ import annotations

import functools
import importlib.resources
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ci_deploy.errors import UserInputError

if TYPE_CHECKING:
    from jsonschema.protocols import Validator  # type: ignore[import-untyped]

DEFAULT_KUBE_VERSION = "1.32"
_SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"
# (apiVersion, kind) -> schema file shipped with ci-deploy, for kinds kubernetes-validate lacks
CRD_SCHEMAS: dict[tuple[str, str], str] = {
    ("gateway.networking.k8s.io/v1", "HTTPRoute"): "httproute-gateway.networking.k8s.io-v1.json",
}


class UnknownKind(Exception):
    """No schema is known for an object's apiVersion and kind."""


def supported_kube_versions() -> list[str]:
    """Kubernetes minor versions whose schemas kubernetes-validate bundles (``"1.25"`` …)."""
    root = importlib.resources.files("kubernetes_validate") / "kubernetes-json-schema"
    found = {
        m.group(1)
        for entry in root.iterdir()
        if (m := re.match(r"^v(\d+\.\d+)\.\d+-local-strict$", entry.name))
    }
    return sorted(found, key=lambda v: tuple(int(p) for p in v.split(".")))


def check_kube_version(version: str) -> str:
    """``"v1.32.4"`` → ``"1.32"``; a version without bundled schemas is a UserInputError."""
    match = re.match(r"^v?(\d+\.\d+)(?:\.\d+)?$", version)
    supported = supported_kube_versions()
    if match is None or match.group(1) not in supported:
        raise UserInputError(
            f"--kube-version {version!r}: schemas exist for Kubernetes "
            f"{supported[0]} to {supported[-1]} (e.g. {DEFAULT_KUBE_VERSION})"
        )
    return match.group(1)


def _schema_file_name(api_version: str, kind: str) -> str:
    # kubernetes-validate's naming: apps/v1 Deployment -> deployment-apps-v1.json,
    # networking.k8s.io/v1 Ingress -> ingress-networking-v1.json, v1 Service -> service-v1.json
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    return f"{kind.lower()}-{group_version}.json"


def _kube_schema_dir(kube_version: str) -> Any:
    root = importlib.resources.files("kubernetes_validate") / "kubernetes-json-schema"
    return root / f"v{kube_version}.0-local-strict"


@functools.cache
def _definitions(kube_version: str) -> dict[str, Any]:
    text = (_kube_schema_dir(kube_version) / "_definitions.json").read_text(encoding="utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


@functools.cache
def _validator(kube_version: str, api_version: str, kind: str) -> Validator:
    from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
    from referencing import Registry, Resource

    crd_file = CRD_SCHEMAS.get((api_version, kind))
    if crd_file is not None:
        schema = json.loads((_SCHEMA_DIR / crd_file).read_text(encoding="utf-8"))
    else:
        file_name = _schema_file_name(api_version, kind)
        entry = _kube_schema_dir(kube_version) / file_name
        if not (re.fullmatch(r"[a-z0-9-]+\.json", file_name) and entry.is_file()):
            raise UnknownKind(f"{api_version} {kind}")
        schema = json.loads(entry.read_text(encoding="utf-8"))
        # The file name ignores the API group's domain; make sure the group really matches.
        if api_version not in schema.get("properties", {}).get("apiVersion", {}).get("enum", []):
            raise UnknownKind(f"{api_version} {kind}")
    definitions = _definitions(kube_version)
    registry: Registry[Any] = Registry().with_resources(
        [
            (definitions["$id"], Resource.from_contents(definitions)),
            (schema["$id"], Resource.from_contents(schema)),
        ]
    )
    validator: Validator = Draft202012Validator(schema, registry=registry)
    return validator


def known_kinds_text(kube_version: str) -> str:
    """One phrase naming what is validated, for error messages."""
    crds = ", ".join(f"{api} {kind}" for api, kind in CRD_SCHEMAS)
    return f"the built-in kinds of Kubernetes {kube_version} and {crds}"


def schema_errors(
    obj: dict[str, Any], kube_version: str
) -> list[tuple[tuple[str | int, ...], str]]:
    """Every schema error of ``obj`` as (JSON path, message), ordered by path.

    Raises UnknownKind when no schema exists for the object's apiVersion and kind.
    """
    validator = _validator(kube_version, str(obj.get("apiVersion")), str(obj.get("kind")))
    errors = [(tuple(error.absolute_path), error.message) for error in validator.iter_errors(obj)]
    return sorted(errors, key=lambda item: [str(part) for part in item[0]])
