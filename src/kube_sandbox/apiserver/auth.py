"""Authentication (bearer tokens, client certificates) and authorization (the built-in roles).

Served as kube-apiserver with ``--anonymous-auth=false`` and RBAC, with one exception taken
from the default ``system:public-info-viewer`` binding: ``/version``, ``/healthz``, ``/livez``
and ``/readyz`` answer without credentials.

- No credential, or a token (or certificate) that is not one of the sandbox's: 401, the exact
  upstream Status (``message`` and ``reason`` ``Unauthorized``, no details).
- Each :class:`User` is bound to one built-in ClusterRole (``view``, ``edit``, ``admin``,
  ``cluster-admin``), cluster-wide or in one namespace (as a RoleBinding would). A request it
  does not allow gets upstream's 403 Status: ``<resource>[.<group>] ["<name>"] is forbidden:
  User "<u>" cannot <verb> resource "<res>[/<sub>]" in API group "<g>" in the namespace
  "<ns>"`` (or ``at the cluster scope``), ``details`` {name, group, kind}.
- The verb, resource, subresource, name and namespace are derived as ``requestinfo.go`` does
  (:func:`request_info`); the role contents are upstream's bootstrap policy (docs/sandbox.md).

RBAC objects stored in the sandbox (Roles, RoleBindings, ...) are served but not consulted:
what a user may do is decided by ``--user`` alone.
"""

from __future__ import annotations

import hmac
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field

from kube_sandbox.protocol.messages import Request, Response, status_object

ROLES = ("view", "edit", "admin", "cluster-admin")
ADMIN_USER = "sandbox-admin"
AUTHENTICATED = "system:authenticated"
# Served without credentials (system:public-info-viewer is bound to system:unauthenticated).
PUBLIC_PATHS = frozenset({"/healthz", "/livez", "/readyz", "/version", "/version/"})
# system:discovery, bound to every authenticated user.
_DISCOVERY = ("/api", "/api/*", "/apis", "/apis/*", "/openapi", "/openapi/*", *PUBLIC_PATHS)

_R = ("get", "list", "watch")
_W = ("create", "delete", "deletecollection", "patch", "update")
Rule = tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]  # groups, resources, verbs

_VIEW: tuple[Rule, ...] = (
    (
        ("",),
        (
            "configmaps", "endpoints", "persistentvolumeclaims", "persistentvolumeclaims/status",
            "pods", "replicationcontrollers", "replicationcontrollers/scale", "serviceaccounts",
            "services", "services/status", "bindings", "events", "limitranges",
            "namespaces/status", "pods/log", "pods/status", "replicationcontrollers/status",
            "resourcequotas", "resourcequotas/status", "namespaces",
        ),
        _R,
    ),
    (("discovery.k8s.io",), ("endpointslices",), _R),
    (
        ("apps",),
        (
            "controllerrevisions", "daemonsets", "daemonsets/status", "deployments",
            "deployments/scale", "deployments/status", "replicasets", "replicasets/scale",
            "replicasets/status", "statefulsets", "statefulsets/scale", "statefulsets/status",
        ),
        _R,
    ),
    (("autoscaling",), ("horizontalpodautoscalers", "horizontalpodautoscalers/status"), _R),
    (("batch",), ("cronjobs", "cronjobs/status", "jobs", "jobs/status"), _R),
    (
        ("extensions",),
        (
            "daemonsets", "daemonsets/status", "deployments", "deployments/scale",
            "deployments/status", "ingresses", "ingresses/status", "networkpolicies",
            "replicasets", "replicasets/scale", "replicasets/status",
            "replicationcontrollers/scale",
        ),
        _R,
    ),
    (("policy",), ("poddisruptionbudgets", "poddisruptionbudgets/status"), _R),
    (("networking.k8s.io",), ("ingresses", "ingresses/status", "networkpolicies"), _R),
)  # fmt: skip
_EDIT: tuple[Rule, ...] = (
    *_VIEW,
    (("",), ("pods/attach", "pods/exec", "pods/portforward", "pods/proxy", "secrets",
             "services/proxy"), _R),
    (("",), ("serviceaccounts",), ("impersonate",)),
    (("",), ("pods", "pods/attach", "pods/exec", "pods/portforward", "pods/proxy"), _W),
    (("",), ("pods/eviction", "serviceaccounts/token"), ("create",)),
    (
        ("",),
        (
            "configmaps", "events", "persistentvolumeclaims", "replicationcontrollers",
            "replicationcontrollers/scale", "secrets", "serviceaccounts", "services",
            "services/proxy",
        ),
        _W,
    ),
    (
        ("apps",),
        (
            "daemonsets", "deployments", "deployments/rollback", "deployments/scale",
            "replicasets", "replicasets/scale", "statefulsets", "statefulsets/scale",
        ),
        _W,
    ),
    (("autoscaling",), ("horizontalpodautoscalers",), _W),
    (("batch",), ("cronjobs", "jobs"), _W),
    (
        ("extensions",),
        (
            "daemonsets", "deployments", "deployments/rollback", "deployments/scale",
            "ingresses", "networkpolicies", "replicasets", "replicasets/scale",
            "replicationcontrollers/scale",
        ),
        _W,
    ),
    (("policy",), ("poddisruptionbudgets",), _W),
    (("networking.k8s.io",), ("ingresses", "networkpolicies"), _W),
    (("coordination.k8s.io",), ("leases",), (*_R, *_W)),
)  # fmt: skip
_ADMIN: tuple[Rule, ...] = (
    *_EDIT,
    (("authorization.k8s.io",), ("localsubjectaccessreviews",), ("create",)),
    (("rbac.authorization.k8s.io",), ("rolebindings", "roles"), (*_R, *_W)),
)
_CLUSTER_ADMIN: tuple[Rule, ...] = ((("*",), ("*",), ("*",)),)
RULES: dict[str, tuple[Rule, ...]] = {
    "": (),  # a client certificate's user without a --user binding: discovery only
    "view": _VIEW,
    "edit": _EDIT,
    "admin": _ADMIN,
    "cluster-admin": _CLUSTER_ADMIN,
}


@dataclass(frozen=True)
class User:
    """Who a credential names, and the one ClusterRole it is bound to (namespace: RoleBinding)."""

    name: str
    role: str
    namespace: str | None = None  # None: a ClusterRoleBinding
    token: str = field(default_factory=lambda: secrets.token_urlsafe(32), repr=False)
    groups: tuple[str, ...] = ()
    # True: it signs in with a client certificate (CN its name) that the sandbox's CA issues
    # at start, written to the kubeconfig instead of the token (which is then never accepted)
    certificate: bool = False

    def __post_init__(self) -> None:
        if self.role not in RULES:
            raise ValueError(f"role {self.role!r} is not one of {', '.join(ROLES)}")

    @property
    def binding(self) -> str:
        """``edit in web-app-staging`` / ``view cluster-wide``, for messages."""
        where = f"in namespace {self.namespace}" if self.namespace else "cluster-wide"
        return f"{self.role} {where}"


_USER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@:-]{0,62}\Z")
_NAMESPACE = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\Z")


def parse_user(spec: str, *, certificate: bool = False) -> User:
    """``NAME=ROLE[:NAMESPACE]`` (``deployer=edit:web-app-staging``, ``viewer=view``) as a User
    with a fresh token (``certificate``: signing in with a client certificate instead);
    ValueError says what is wrong."""
    name, equals, binding = spec.partition("=")
    role, _, namespace = binding.partition(":")
    if not equals or not _USER_NAME.match(name):
        raise ValueError(
            f"{spec!r}: expected NAME=ROLE[:NAMESPACE] with NAME letters, digits and . _ @ : -"
            " (e.g. deployer=edit:web-app-staging)"
        )
    if role not in ROLES:
        raise ValueError(f"{spec!r}: ROLE must be one of {', '.join(ROLES)}, not {role!r}")
    if namespace and not _NAMESPACE.match(namespace):
        raise ValueError(f"{spec!r}: {namespace!r} is not a namespace name (a DNS label)")
    if name == ADMIN_USER:
        raise ValueError(f"{spec!r}: {ADMIN_USER} is the default user's name; choose another")
    return User(name, role, namespace or None, certificate=certificate)


@dataclass(frozen=True)
class RequestInfo:
    """The attributes RBAC decides on (``k8s.io/apiserver`` ``RequestInfo``)."""

    resource_request: bool
    verb: str
    path: str
    group: str = ""
    resource: str = ""
    subresource: str = ""
    name: str = ""
    namespace: str = ""


_VERBS = {"POST": "create", "GET": "get", "HEAD": "get", "PUT": "update", "PATCH": "patch"}
_VERBS["DELETE"] = "delete"


def request_info(req: Request) -> RequestInfo:
    """What a request does, as kube-apiserver's RequestInfoFactory reads it."""
    path = req.path
    parts = [p for p in path.strip("/").split("/") if p]
    method_verb = _VERBS.get(req.method, req.method.lower())
    non_resource = RequestInfo(False, req.method.lower(), path)
    if len(parts) < 3 or parts[0] not in ("api", "apis"):
        return non_resource
    group = ""
    rest = parts[1:]
    if parts[0] == "apis":
        if len(rest) < 3:
            return non_resource
        group, rest = rest[0], rest[1:]
    rest = rest[1:]  # the version
    verb = method_verb
    if rest[0] in ("watch", "proxy") and len(rest) >= 2:
        verb, rest = rest[0], rest[1:]
    namespace = ""
    if rest[0] == "namespaces" and len(rest) > 1:
        namespace = rest[1]
        if len(rest) > 2 and rest[2] not in ("status", "finalize"):
            rest = rest[2:]
    resource = rest[0]
    name = rest[1] if len(rest) >= 2 else ""
    subresource = rest[2] if len(rest) >= 3 and verb != "proxy" else ""
    if not name and verb == "get":
        verb = "watch" if req.flag("watch") else "list"
        selector = req.query.get("fieldSelector", "")
        if selector.startswith("metadata.name=") and "," not in selector:
            name = selector.removeprefix("metadata.name=")
    if not name and verb == "delete":
        verb = "deletecollection"
    return RequestInfo(True, verb, path, group, resource, subresource, name, namespace)


def _matches(value: str, allowed: Iterable[str]) -> bool:
    return any(a == "*" or a == value for a in allowed)


def _resource_matches(resource: str, subresource: str, allowed: Iterable[str]) -> bool:
    combined = f"{resource}/{subresource}" if subresource else resource
    for a in allowed:
        if a == "*" or a == combined:
            return True
        if subresource and a == f"*/{subresource}":
            return True
    return False


def allows(user: User, info: RequestInfo) -> bool:
    """Whether ``user``'s binding allows the request (``rbac.go`` RuleAllows)."""
    if not info.resource_request:
        if user.role == "cluster-admin" and user.namespace is None:
            return True
        return info.verb in ("get", "head") and any(
            p == info.path or (p.endswith("*") and info.path.startswith(p[:-1])) for p in _DISCOVERY
        )
    if user.namespace is not None and info.namespace != user.namespace:
        return False
    return any(
        _matches(info.group, groups)
        and _resource_matches(info.resource, info.subresource, resources)
        and _matches(info.verb, verbs)
        for groups, resources, verbs in RULES[user.role]
    )


def unauthorized() -> Response:
    """Upstream's 401 (``apierrors.NewUnauthorized("Unauthorized")``)."""
    return Response(401, status_object(401, "Unauthorized", "Unauthorized"))


def forbidden(user: User, info: RequestInfo) -> Response:
    """Upstream's 403 for an RBAC denial (``responsewriters.ForbiddenStatusError``)."""
    who = f"User {_quote(user.name)} cannot {info.verb}"
    if not info.resource_request:
        inner = f"{who} path {_quote(info.path)}"
        message = f"forbidden: {inner}"
        details: dict[str, str] = {}
    else:
        resource = f"{info.resource}/{info.subresource}" if info.subresource else info.resource
        scope = (
            f"in the namespace {_quote(info.namespace)}"
            if info.namespace
            else "at the cluster scope"
        )
        inner = f"{who} resource {_quote(resource)} in API group {_quote(info.group)} {scope}"
        qualified = f"{info.resource}.{info.group}" if info.group else info.resource
        named = f" {_quote(info.name)}" if info.name else ""
        message = f"{qualified}{named} is forbidden: {inner}"
        details = {}
        if info.name:
            details["name"] = info.name
        if info.group:
            details["group"] = info.group
        details["kind"] = info.resource
    body = status_object(403, "Forbidden", _escape(message))
    body["details"] = details
    # StatusDetails sit before "code" upstream; kubectl and the clients read keys, not order.
    body["code"] = body.pop("code")
    return Response(403, body)


def _quote(text: str) -> str:
    """Go's %q for the ASCII text these messages hold."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _escape(message: str) -> str:
    """``responsewriters`` escapes HTML characters in the forbidden message."""
    return message.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@dataclass
class Authenticator:
    """The sandbox's users: who a request is, and whether it may do what it asks.

    ``enabled`` False (plain HTTP, ``--insecure-http``): every request is served, as before.
    """

    users: tuple[User, ...] = ()
    enabled: bool = True

    def __post_init__(self) -> None:
        names = [u.name for u in self.users]
        if len(set(names)) != len(names):
            raise ValueError("user names must be unique")

    @property
    def admin(self) -> User:
        """The first user: the kubeconfig's default (cluster-admin)."""
        return self.users[0]

    def user_for(self, req: Request) -> User | None:
        """The user of ``req``'s bearer token, else of its client certificate, else None.

        A certificate signed by the sandbox's CA names its user (CN) and groups (O), as
        upstream: a name without a ``--user`` binding is authenticated but may only discover.
        """
        scheme, _, credential = req.header("Authorization").partition(" ")
        if scheme.lower() == "bearer":
            presented = credential.strip().encode()
            for user in self.users:
                if hmac.compare_digest(presented, user.token.encode()) and not user.certificate:
                    return user
            return None
        if req.peer is not None:
            name, groups = req.peer
            known = next((u for u in self.users if u.name == name), None)
            if known is not None:
                return known
            role = "cluster-admin" if "system:masters" in groups else ""
            return User(name, role, groups=groups)
        return None

    def refusal(self, req: Request) -> Response | None:
        """401 or 403 for a request that may not be served, None to serve it."""
        if not self.enabled:
            return None
        has_credential = req.has_header("Authorization") or req.peer is not None
        if not has_credential and req.path in PUBLIC_PATHS and req.method in ("GET", "HEAD"):
            return None
        user = self.user_for(req)
        if user is None:
            return unauthorized()
        info = request_info(req)
        if allows(user, info):
            return None
        return forbidden(user, info)
