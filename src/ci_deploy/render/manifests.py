"""Render the Kubernetes objects of one environment: templates → YAML → checked objects.

Every problem of a run is collected (template errors, YAML errors, shape, namespace and label
conflicts, duplicates, schema errors) and raised together as one ConfigError, so a user fixes
them in one round and nothing is written or applied from a half-valid set.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from ci_deploy.errors import ConfigError, Location, Problem
from ci_deploy.render.context import (
    LABEL_MANAGED_BY,
    LABEL_NAME,
    resolve_image,
    template_context,
)
from ci_deploy.render.images import Substitution, substitute_image
from ci_deploy.render.jinja import display_path
from ci_deploy.render.sources import SourceText, source_for
from ci_deploy.render.validate import (
    DEFAULT_KUBE_VERSION,
    UnknownKind,
    check_kube_version,
    known_kinds_text,
    schema_errors,
)
from ci_deploy.yamlfile import YamlDocument, format_path, load_yaml_documents

if TYPE_CHECKING:
    from ci_deploy.config import Config, EnvironmentConfig

# Apply order (as Helm's install order): what others depend on first; unknown kinds last.
KIND_ORDER = (
    "Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange", "ServiceAccount", "Secret",
    "ConfigMap", "PersistentVolumeClaim", "Role", "RoleBinding", "Service", "Deployment",
    "StatefulSet", "Job", "CronJob", "PodDisruptionBudget", "HorizontalPodAutoscaler",
    "Ingress", "HTTPRoute",
)  # fmt: skip
# Cluster-wide objects are not per environment: one environment's deploy would change all.
CLUSTER_SCOPED = frozenset(
    {
        "Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition",
        "PersistentVolume", "StorageClass", "PriorityClass", "IngressClass", "GatewayClass",
        "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration", "APIService",
        "RuntimeClass", "CSIDriver", "VolumeAttachment",
    }
)  # fmt: skip


@dataclass(frozen=True)
class RenderedObject:
    """One rendered object and where it came from (for messages and file names)."""

    obj: dict[str, Any]
    template: str  # display path of the template (or plain file)
    index: int  # 1-based document index within the template's output
    document: YamlDocument
    substitutions: tuple[Substitution, ...] = ()  # container images set to the deployed one
    rendered: bool = True  # from a template; False: a plain file, its own lines

    @property
    def kind(self) -> str:
        return str(self.obj.get("kind"))

    @property
    def name(self) -> str:
        return str(self.obj.get("metadata", {}).get("name"))

    def problem(self, path: tuple[str | int, ...], message: str) -> Problem:
        """A Problem naming template, document index, kind/name and JSON path."""
        where = f"document {self.index} ({self.kind}/{self.name})"
        key = f"{where} {format_path(path)}" if path else where
        line = self.document.location(path).line
        kind = "rendered line" if self.rendered else "line"
        suffix = f" ({kind} {line})" if line is not None else ""
        return Problem(Location(self.template), key, message + suffix)


def render_manifests(
    cfg: Config,
    env_name: str,
    image: str,
    *,
    kube_version: str = DEFAULT_KUBE_VERSION,
    allow_unknown_kinds: bool = False,
) -> list[dict[str, Any]]:
    """The validated Kubernetes objects of environment ``env_name``, in apply order.

    Raises UserInputError / ConfigError (exit 2) naming template file and line, or the
    template, document, object and JSON path of a schema error.
    """
    rendered = render_objects(
        cfg, env_name, image, kube_version=kube_version, allow_unknown_kinds=allow_unknown_kinds
    )
    return [item.obj for item in rendered]


def render_objects(
    cfg: Config,
    env_name: str,
    image: str,
    *,
    kube_version: str = DEFAULT_KUBE_VERSION,
    allow_unknown_kinds: bool = False,
) -> list[RenderedObject]:
    """As render_manifests, keeping each object's template and document index."""
    env = cfg.environment(env_name)
    cfg = replace(cfg, manifests=cfg.manifests_for(env))  # the environment's own source, if any
    version = check_kube_version(kube_version)
    image = resolve_image(cfg, image)
    context = template_context(cfg, env, image)
    problems: list[Problem] = []
    items: list[RenderedObject] = []
    for text in source_for(cfg, version).texts(cfg, env, context, problems):
        items.extend(_parse(text, problems))
    for item in items:
        problems.extend(_stamp(item, cfg, env))
    items = [_with_image(item, cfg.image.repository, image) for item in items]
    problems.extend(_duplicates(items))
    problems.extend(_configured_hooks(cfg, items))
    problems.extend(_hook_annotations(items))
    if not problems:  # a missing Deployment is noise next to the errors that caused it
        problems.extend(_primary_workload(cfg, items))
    for item in items:
        problems.extend(_schema(item, version, allow_unknown_kinds))
    if not problems:  # needs a well-formed Deployment
        problems.extend(_app_container(cfg, items, image))
    if problems:
        raise ConfigError(problems)
    return sorted(items, key=_apply_order)


def _with_image(item: RenderedObject, repository: str, image: str) -> RenderedObject:
    """``item`` with every container image of ``repository`` set to the deployed ``image``."""
    done = substitute_image(item.obj, item.template, repository, image)
    return replace(item, substitutions=tuple(done)) if done else item


def _parse(source: SourceText, problems: list[Problem]) -> list[RenderedObject]:
    try:
        documents = load_yaml_documents(source.text, source.file_name)
    except ConfigError as exc:
        problems.extend(exc.problems)
        return []
    items: list[RenderedObject] = []
    for index, document in enumerate(documents, start=1):
        if document.data is None:  # an empty document, e.g. a disabled optional object
            continue
        item = RenderedObject(
            document.data, source.display, index, document, rendered=source.rendered
        )
        shape = _shape_problem(item)
        if shape is not None:
            problems.append(shape)
            continue
        labels = item.obj["metadata"].get("labels")
        # ci-deploy applies these objects: it is their manager, not the tool that wrote them
        if isinstance(labels, dict) and labels.get(LABEL_MANAGED_BY) == source.managed_by:
            labels[LABEL_MANAGED_BY] = "ci-deploy"
        items.append(item)
    return items


def _shape_problem(item: RenderedObject) -> Problem | None:
    data = item.obj
    where = Location(item.template)
    key = f"document {item.index}"
    if not isinstance(data, dict):
        found = type(data).__name__
        return Problem(where, key, f"expected a Kubernetes object (a mapping), found a {found}")
    for field in ("apiVersion", "kind"):
        if not isinstance(data.get(field), str) or not data[field]:
            return Problem(
                where, key, f"{field} is missing; every object needs apiVersion and kind"
            )
    metadata = data.get("metadata")
    if not isinstance(metadata, dict) or not isinstance(metadata.get("name"), str):
        return Problem(where, f"{key} ({data['kind']})", "metadata.name is missing")
    return None


def _stamp(item: RenderedObject, cfg: Config, env: EnvironmentConfig) -> list[Problem]:
    """Set namespace and ownership labels; a template that sets them differently is an error
    (except ``app.kubernetes.io/name``: an object's own name, such as a chart's, stays)."""
    if item.kind in CLUSTER_SCOPED:
        return [
            item.problem((), f"{item.kind} is cluster-scoped; ci-deploy manages namespaced "
                         f"objects of one environment only (create it outside ci-deploy)")
        ]  # fmt: skip
    metadata: dict[str, Any] = item.obj["metadata"]
    problems: list[Problem] = []
    if metadata.get("namespace") is None:  # absent or `namespace:` left empty
        metadata["namespace"] = env.namespace
    namespace = metadata["namespace"]
    if namespace != env.namespace:
        problems.append(
            item.problem(
                ("metadata", "namespace"),
                f"is {namespace!r} but environment {env.name!r} deploys to namespace "
                f"{env.namespace!r}; remove it (ci-deploy sets it)",
            )
        )
    if metadata.get("labels") is None:
        metadata["labels"] = {}
    labels = metadata["labels"]
    if not isinstance(labels, dict):
        return problems  # the schema check reports the wrong type
    for key, value in ((LABEL_NAME, cfg.app), (LABEL_MANAGED_BY, "ci-deploy")):
        found = labels.setdefault(key, value)
        if key == LABEL_NAME:
            continue  # an object's own name (a chart's, a subchart's, a worker's) is kept
        if found != value:
            path = ("metadata", "labels", key)
            problems.append(item.problem(path, f"is {found!r}, expected {value!r}"))
    return problems


def _identity(item: RenderedObject) -> tuple[str, str, str]:
    group = item.obj["apiVersion"].rpartition("/")[0]  # apps/v1 and apps/v1beta1 are one object
    return group, item.kind, item.name


def _duplicates(items: list[RenderedObject]) -> list[Problem]:
    seen: dict[tuple[str, str, str], RenderedObject] = {}
    problems: list[Problem] = []
    for item in items:
        first = seen.setdefault(_identity(item), item)
        if first is not item:
            problems.append(
                item.problem(
                    (), f"duplicate object: {item.kind}/{item.name} is also defined in "
                        f"{first.template} document {first.index}",
                )
            )  # fmt: skip
    return problems


def _configured_hooks(cfg: Config, items: list[RenderedObject]) -> list[Problem]:
    """Mark the Jobs ``manifests.hooks`` names as the annotation would (each must be a rendered
    Job, not annotated as another hook)."""
    from ci_deploy.kube.jobs import HOOK_ANNOTATION

    problems: list[Problem] = []
    hooks = cfg.manifests.hooks
    for key, when in (("pre_deploy", "pre-deploy"), ("post_deploy", "post-deploy")):
        for i, name in enumerate(getattr(hooks, key)):
            at = f"manifests.hooks.{key}[{i}]"
            found = [item for item in items if item.name == name]
            job = next((item for item in found if item.kind == "Job"), None)
            if job is None:
                kinds = ", ".join(f"{item.kind}/{item.name}" for item in found)
                what = f"only {kinds}" if kinds else "no object of that name"
                problems.append(
                    Problem(Location(cfg.source), at, f"no Job named {name!r} is rendered ({what})")
                )
                continue
            annotations = job.obj["metadata"].setdefault("annotations", {}) or {}
            job.obj["metadata"]["annotations"] = annotations
            if annotations.setdefault(HOOK_ANNOTATION, when) != when:
                problems.append(
                    Problem(
                        Location(cfg.source),
                        at,
                        f"Job {name} is annotated {HOOK_ANNOTATION}: "
                        f"{annotations[HOOK_ANNOTATION]!r} in {job.template}; one or the other",
                    )
                )
    return problems


def _hook_annotations(items: list[RenderedObject]) -> list[Problem]:
    """A hook annotation (``ci-deploy.dev/hook``) only on a Job, with a known value."""
    from ci_deploy.kube.jobs import HOOK_ANNOTATION, hook_problem

    path = ("metadata", "annotations", HOOK_ANNOTATION)
    return [item.problem(path, p) for item in items if (p := hook_problem(item.obj)) is not None]


def _primary_workload(cfg: Config, items: list[RenderedObject]) -> list[Problem]:
    primary = cfg.primary
    if any(item.kind == "Deployment" and item.name == primary for item in items):
        return []
    found = sorted(item.name for item in items if item.kind == "Deployment")
    others = f" (it gives: {', '.join(found)}; set manifests.primary to one)" if found else ""
    rule = (
        f"ci-deploy rolls out the Deployment manifests.primary names ({primary!r})"
        if cfg.manifests.primary
        else "ci-deploy rolls out the Deployment named after the app, or the one"
        " manifests.primary names"
    )
    folder = cfg.manifests.templates
    where = Location(display_path(folder) if folder is not None else cfg.source)
    for key in ("files", "kustomize", "helm"):
        if getattr(cfg.manifests, key):
            return [
                Problem(
                    Location(cfg.source),
                    f"manifests.{key}",
                    f"no Deployment named {primary!r} in what manifests.{key} gives: "
                    f"{rule}{others}",
                )
            ]
    return [
        Problem(
            where,
            "",
            f"no Deployment named {primary!r}: {rule}{others} (include "
            '"builtin/deployment.yaml.j2" to reuse the built-in one)',
        )
    ]


def _containers(item: RenderedObject) -> list[dict[str, Any]]:
    spec = ((item.obj.get("spec") or {}).get("template") or {}).get("spec") or {}
    containers = spec.get("containers")
    return [c for c in containers if isinstance(c, dict)] if isinstance(containers, list) else []


def _app_container(cfg: Config, items: list[RenderedObject], image: str) -> list[Problem]:
    """The app's Deployment must run the image being deployed (or say which container does).

    With ``image.container`` the named container gets the image (for templates that hard-code
    one); without it, a container must already run it. Otherwise ci-deploy would report a
    version as deployed that no pod runs.
    """
    primary = next(i for i in items if i.kind == "Deployment" and i.name == cfg.primary)
    containers = _containers(primary)
    path = ("spec", "template", "spec", "containers")
    listed = ", ".join(f"{c.get('name')} ({c.get('image')})" for c in containers) or "none"
    wanted = cfg.image.container
    if wanted is not None:
        named = [c for c in containers if c.get("name") == wanted]
        if not named:
            return [
                primary.problem(
                    path,
                    f"image.container is {wanted!r} but Deployment {cfg.primary} has no container "
                    f"of that name (containers: {listed})",
                )
            ]
        named[0]["image"] = image
        return []
    if any(c.get("image") == image for c in containers):
        return []
    return [
        primary.problem(
            path,
            f"no container of Deployment {cfg.primary} runs the image being deployed ({image}); "
            f"containers: {listed}. Use {{{{ image }}}} for the app's container in the template, "
            f"or set image.container in {cfg.source} to the container that runs the app",
        )
    ]


def app_container_name(cfg: Config, objects: list[dict[str, Any]], image: str) -> str | None:
    """The name of the container of the app's Deployment that runs ``image`` (rendered)."""
    if cfg.image.container is not None:
        return cfg.image.container
    for obj in objects:
        if obj.get("kind") == "Deployment" and obj["metadata"]["name"] == cfg.primary:
            pod = (obj.get("spec") or {}).get("template") or {}
            for container in (pod.get("spec") or {}).get("containers") or []:
                if container.get("image") == image:
                    return str(container.get("name"))
    return None


def _schema(item: RenderedObject, kube_version: str, allow_unknown: bool) -> list[Problem]:
    try:
        errors = schema_errors(item.obj, kube_version)
    except UnknownKind:
        if allow_unknown:
            return []
        return [
            item.problem(
                (),
                f"no schema for {item.obj['apiVersion']} {item.kind}: ci-deploy validates "
                f"{known_kinds_text(kube_version)} (--allow-unknown-kinds renders other kinds "
                "unvalidated)",
            )
        ]
    return [item.problem(path, message) for path, message in errors]


def _apply_order(item: RenderedObject) -> tuple[int, str, int]:
    rank = KIND_ORDER.index(item.kind) if item.kind in KIND_ORDER else len(KIND_ORDER)
    return rank, item.template, item.index
