"""Request bodies: decoding (JSON, YAML, protobuf), kind and namespace checks, unknown fields.

Also the text of the ``pods/log`` subresource, the one non-JSON body the sandbox answers with.
"""

from __future__ import annotations

import json
from typing import Any

from kube_sandbox.objects import validation
from kube_sandbox.objects.schema import drop_fields
from kube_sandbox.protocol import protobuf
from kube_sandbox.protocol.messages import Request
from kube_sandbox.storage.store import StoreError
from kube_sandbox.verbs.context import Ctx

Obj = dict[str, Any]


def decode_body(req: Request) -> Any:
    """The request body as JSON, or YAML for ``application/apply-patch+yaml``."""
    if not req.body:
        return None
    ctype = req.header("Content-Type")
    if "protobuf" in ctype:
        return protobuf.decode(req.body)
    if "cbor" in ctype:
        raise StoreError(
            415,
            "UnsupportedMediaType",
            "the sandbox accepts JSON, YAML and (for a few kinds) protobuf request bodies, "
            "not CBOR",
        )
    try:
        return json.loads(req.body)
    except ValueError as exc:
        if "yaml" not in ctype:
            raise StoreError(400, "BadRequest", f"invalid JSON in request body: {exc}") from exc
    import yaml

    try:
        return yaml.safe_load(req.body)
    except yaml.YAMLError as exc:
        raise StoreError(400, "BadRequest", f"invalid YAML in request body: {exc}") from exc


def check_body_kind(ctx: Ctx, body: Any) -> Obj:
    """The body as an object of this resource's kind, namespace and name (400 when it is not)."""
    rt = ctx.rt
    if not isinstance(body, dict):
        raise StoreError(400, "BadRequest", "the request body must be a JSON object")
    api_version, kind = body.get("apiVersion"), body.get("kind")
    if api_version and api_version != rt.api_version:
        raise StoreError(
            400,
            "BadRequest",
            f"the API version in the data ({api_version}) does not match the expected API "
            f"version ({rt.api_version})",
        )
    if kind and kind != rt.kind:
        raise StoreError(
            400,
            "BadRequest",
            f"the kind in the data ({kind}) does not match the expected kind ({rt.kind})",
        )
    body["apiVersion"], body["kind"] = rt.api_version, rt.kind
    meta = body.get("metadata")
    if meta is None:
        body["metadata"] = meta = {}
    if not isinstance(meta, dict):
        raise StoreError(400, "BadRequest", "metadata must be an object")
    if rt.namespaced:
        if meta.get("namespace") and meta["namespace"] != ctx.ns:
            raise StoreError(
                400,
                "BadRequest",
                "the namespace of the provided object does not match the namespace sent on the "
                "request",
            )
        meta["namespace"] = ctx.ns
    else:
        meta.pop("namespace", None)
    if ctx.name is not None:  # PUT / PATCH address one object: the body may only name it
        if meta.get("name") not in (None, ctx.name):
            raise StoreError(
                400, "BadRequest", "the name of the object does not match the name on the URL"
            )
        meta["name"] = ctx.name
    return body


def field_validation(ctx: Ctx, obj: Obj) -> None:
    """Apply ``fieldValidation`` (Strict → 400, Warn → warning, Ignore) to unknown fields."""
    mode = ctx.req.query.get("fieldValidation", "Warn")
    if mode not in ("Strict", "Warn", "Ignore"):
        raise StoreError(
            400, "BadRequest", f"fieldValidation must be Strict, Warn or Ignore, not {mode!r}"
        )
    unknown = validation.unknown_field_paths(ctx.rt, obj, ctx.store)
    if not unknown:
        return
    if mode == "Strict":
        detail = ", ".join(f'unknown field "{path}"' for path in unknown)
        raise StoreError(
            400,
            "BadRequest",
            f'{ctx.rt.kind} in version "{ctx.rt.version}" cannot be handled as a {ctx.rt.kind}: '
            f"strict decoding error: {detail}",
        )
    if mode == "Warn":
        ctx.warnings.extend(f'unknown field "{path}"' for path in unknown)

    drop_fields(obj, unknown)


def pod_log(pod: Obj, container: str | None) -> str:
    """The log of a simulated container: what the sandbox kubelet did with it.

    There is no process behind a sandbox pod; ``kubectl logs`` gets these lines instead of an
    error, so scripts that collect logs run unchanged.
    """
    spec_containers = (pod.get("spec") or {}).get("containers") or []
    names = [c.get("name") for c in spec_containers]
    name = container or (names[0] if names else "")
    if name not in names:
        raise StoreError(
            400,
            "BadRequest",
            f"container {name} is not valid for pod {pod['metadata']['name']}",
        )
    image = next(c.get("image", "") for c in spec_containers if c.get("name") == name)
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    status: Obj = next((s for s in statuses if s.get("name") == name), {})
    state = ", ".join(sorted((status.get("state") or {"waiting": {}}).keys()))
    restarts = int(status.get("restartCount", 0))
    return (
        f"[ci-deploy sandbox] simulated container {name} (image {image}): no process runs here\n"
        f"[ci-deploy sandbox] state: {state}; ready: {bool(status.get('ready'))}; "
        f"restarts: {restarts}\n"
    )
