"""CRDs shipped with the sandbox (package data ``kube_sandbox/data/crds``), installed at start-up.

Today the Gateway API's HTTPRoute (v1.2.1, standard channel; provenance in the folder's
README.md). Installing one is what ``kubectl apply -f`` of the file does on a real cluster.
"""

from __future__ import annotations

import copy
import functools
from importlib import resources as package_files
from typing import Any

from kube_sandbox.objects import crd
from kube_sandbox.objects.resources import CRD_KEY
from kube_sandbox.storage.store import Store, StoreError

Obj = dict[str, Any]
GATEWAY_API_CRDS = ("gateway.networking.k8s.io_httproutes.yaml",)


@functools.cache
def _load(name: str) -> Obj:
    import yaml

    text = (package_files.files("kube_sandbox") / "data" / "crds" / name).read_text("utf-8")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: 0.1 s, not 2 s
    loaded: Obj = yaml.load(text, Loader=loader)
    return loaded


def gateway_api_crds() -> list[Obj]:
    """The bundled Gateway API CRDs (fresh copies)."""
    return [copy.deepcopy(_load(name)) for name in GATEWAY_API_CRDS]


def install_gateway_api(store: Store) -> None:
    """Install the bundled Gateway API CRDs that ``store`` does not have yet."""
    with store.lock:
        for definition in gateway_api_crds():
            try:
                store.get(CRD_KEY, "", definition["metadata"]["name"])
            except StoreError:
                crd.install(store, definition, CRD_KEY)
