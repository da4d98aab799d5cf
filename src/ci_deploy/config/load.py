"""Load ``ci-deploy.yml``: parse with positions, check against the schema, merge environments.

All problems of a file are reported together in one ConfigError (exit 2), sorted by position.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Any

from ci_deploy.config import model, spec
from ci_deploy.config.parsers import BUILTIN_METRICS
from ci_deploy.config.schema import INVALID, Context, walk
from ci_deploy.errors import ConfigError, Location, Problem
from ci_deploy.yamlfile import KeyPath, YamlDocument, load_yaml, load_yaml_file

# Environment keys whose mappings merge key by key with ``defaults`` instead of replacing it.
_MERGED_KEYS = ("env", "external_services", "resources")
_STRATEGY_SECTIONS = {
    "canary": ("canary", "canary_deployment"),
    "blue_green": ("blue_green", "blue_green_deployment"),
}


def load_config(path: str | Path) -> model.Config:
    """Load and validate a configuration file; raise ConfigError listing every problem."""
    return config_from_document(load_yaml_file(path))


def load_config_text(text: str, file: str = "ci-deploy.yml") -> model.Config:
    """Like ``load_config`` for text already in memory (``file`` names it in messages)."""
    return config_from_document(load_yaml(text, file))


def config_from_document(doc: YamlDocument) -> model.Config:
    """Validate a parsed document and build the typed configuration."""
    if doc.data is None:
        raise ConfigError(
            [
                Problem(
                    Location(doc.file),
                    "",
                    "the file is empty; expected a mapping with app, image and environments",
                )
            ]
        )
    data, problems = walk(spec.CONFIG, doc)
    ctx = Context(doc, problems)
    if isinstance(doc.data, dict):
        _check_strategy_references(doc.data, ctx)
        _check_templates_folder(doc.data, ctx)
        _check_manifest_files(doc.data, ctx)
    config = _assemble(data, doc, ctx) if data is not INVALID else None
    if config is not None:
        _check_traffic_router(config, ctx)
        _check_metric_names(config, ctx)
    if ctx.problems or config is None:  # INVALID always comes with a recorded problem
        raise ConfigError(sorted(ctx.problems, key=_position))
    return config


def _position(problem: Problem) -> tuple[int, int]:
    return problem.location.line or 0, problem.location.column or 0


def _check_strategy_references(raw: dict[str, Any], ctx: Context) -> None:
    """A strategy named at the top or in an environment must have its section configured."""
    references: list[tuple[tuple[str, ...], Any]] = [(("strategy",), raw.get("strategy"))]
    environments = raw.get("environments")
    if isinstance(environments, dict):
        for name, env in environments.items():
            if isinstance(env, dict):
                references.append((("environments", name, "strategy"), env.get("strategy")))
    for path, value in references:
        sections = _STRATEGY_SECTIONS.get(value) if isinstance(value, str) else None
        if sections is None or any(raw.get(s) is not None for s in sections):
            continue
        ctx.error(
            path,
            f"expected a configured strategy, found '{value}' but there is no top-level"
            f" '{sections[0]}:' (or '{sections[1]}:') section; add one or use 'rolling'",
        )


# Where the repository is in CI: templates must come from inside it (GitHub, GitLab).
WORKSPACE_VARIABLES = ("GITHUB_WORKSPACE", "CI_PROJECT_DIR")


def repository_root(config_file: str | Path) -> tuple[Path, str]:
    """(folder, what it is): the folder templates must stay inside.

    ``$GITHUB_WORKSPACE`` or ``$CI_PROJECT_DIR`` when set and holding the configuration file
    (the checked-out repository), else the configuration file's folder. Documented in
    docs/manifests.md.
    """
    folder = Path(os.path.abspath(Path(config_file).parent))
    for name in WORKSPACE_VARIABLES:
        value = os.environ.get(name, "").strip()
        # A workspace that does not hold the configuration is not where this job's files are
        # (gitlab-ci-local's shell executor says /builds/group/proj and runs in a copy; act
        # passes the host's path into a container action): the file's folder is then the
        # bound, which is never wider.
        if value and folder.resolve().is_relative_to(Path(value).resolve()):
            return Path(value), f"${name}"
    return folder, "the configuration file's folder"


def _manifest_blocks(raw: dict[str, Any]) -> list[tuple[KeyPath, dict[str, Any]]]:
    """``manifests:`` and every ``environments.<env>.manifests:``, with their key paths."""
    blocks: list[tuple[KeyPath, dict[str, Any]]] = []
    if isinstance(raw.get("manifests"), dict):
        blocks.append((("manifests",), raw["manifests"]))
    environments = raw.get("environments")
    if isinstance(environments, dict):
        for name, overlay in environments.items():
            if isinstance(overlay, dict) and isinstance(overlay.get("manifests"), dict):
                blocks.append((("environments", name, "manifests"), overlay["manifests"]))
    return blocks


def _check_templates_folder(raw: dict[str, Any], ctx: Context) -> None:
    """``manifests.templates``: relative, inside the repository once symlinks are followed."""
    for prefix, manifests in _manifest_blocks(raw):
        _check_templates_in(prefix, manifests, ctx)


def _check_templates_in(prefix: KeyPath, manifests: dict[str, Any], ctx: Context) -> None:
    templates = manifests.get("templates")
    if not isinstance(templates, str) or not templates.strip():
        return
    key = (*prefix, "templates")
    if Path(templates).is_absolute():
        ctx.error(
            key,
            "expected a folder inside the repository, relative to the configuration file,"
            f" found an absolute path '{templates}'",
        )
        return
    folder = Path(ctx.doc.file).parent / templates
    root, what = repository_root(ctx.doc.file)
    real = folder.resolve()  # symlinks followed: a link out of the repository is outside
    if not real.is_relative_to(root.resolve()):
        ctx.error(
            key,
            f"expected a folder inside the repository ({root}, {what}), found '{templates}',"
            f" which is {real}",
        )
        return
    if not folder.is_dir():
        why = "is not a folder" if folder.exists() else "does not exist"
        ctx.error(
            key,
            f"expected a folder of templates (relative to the configuration file), found"
            f" '{templates}', which {why}",
        )


def _check_manifest_files(raw: dict[str, Any], ctx: Context) -> None:
    """Paths of the manifest sources are relative, inside the repository; one source at most."""
    for prefix, manifests in _manifest_blocks(raw):
        _check_sources_in(prefix, manifests, ctx)


def _check_sources_in(prefix: KeyPath, manifests: dict[str, Any], ctx: Context) -> None:
    chosen = [key for key in MANIFEST_SOURCES if manifests.get(key)]
    for key in chosen[1:]:
        ctx.error(
            (*prefix, key),
            f"expected one of {', '.join(MANIFEST_SOURCES)}, found {' and '.join(chosen)};"
            " keep one",
            key=True,
        )
    patterns = manifests.get("files")
    paths: list[tuple[KeyPath, Any]] = []
    if isinstance(patterns, list):
        paths += [((*prefix, "files", i), p) for i, p in enumerate(patterns)]
    if isinstance(manifests.get("kustomize"), str):
        paths.append(((*prefix, "kustomize"), manifests["kustomize"]))
    helm = manifests.get("helm")
    if isinstance(helm, dict):
        if isinstance(helm.get("chart"), str):
            paths.append(((*prefix, "helm", "chart"), helm["chart"]))
        if isinstance(helm.get("values"), list):
            paths += [((*prefix, "helm", "values", i), v) for i, v in enumerate(helm["values"])]
    for key_path, pattern in paths:
        if not isinstance(pattern, str):
            continue  # the schema reports it
        if Path(pattern).is_absolute() or ".." in Path(pattern).parts:
            ctx.error(
                key_path,
                "expected a path inside the repository, relative to the configuration file"
                f" (no '..'), found '{pattern}'",
            )


# The keys of manifests: that name where the objects come from (one at most; none: built-in).
MANIFEST_SOURCES = ("templates", "files", "kustomize", "helm")


# traffic router → (manifests key it needs, what that object does for the router)
_ROUTER_NEEDS = {
    "gateway-api": ("http_route", "the HTTPRoute carries the traffic weights"),
    "nginx-ingress": ("ingress", "the canary Ingress carries the traffic weight"),
}


def _check_traffic_router(config: model.Config, ctx: Context) -> None:
    """A weighted router needs the object it sets weights on."""
    if config.canary is None or config.canary.traffic_router not in _ROUTER_NEEDS:
        return
    needed, why = _ROUTER_NEEDS[config.canary.traffic_router]
    if getattr(config.manifests, needed) is None:
        section = "canary_deployment" if "canary_deployment" in ctx.doc.data else "canary"
        ctx.error(
            (section, "traffic_router"),
            f"expected 'manifests.{needed}' to be configured for traffic_router"
            f" '{config.canary.traffic_router}' ({why}), found none; add it or use"
            " traffic_router: replicas",
        )


def _check_metric_names(config: model.Config, ctx: Context) -> None:
    """Every metric a rule names has a query: a built-in one or one in analysis.prometheus."""
    prometheus = config.analysis.prometheus
    configured = set(prometheus.queries) if prometheus is not None else set()
    known = configured | set(BUILTIN_METRICS)

    def check(path: tuple[str | int, ...], metric: str) -> None:
        if metric not in known:
            close = difflib.get_close_matches(metric, sorted(known), n=1, cutoff=0.7)
            ctx.error(
                path,
                f"expected a metric with a query, found '{metric}', which has none: add"
                f" analysis.prometheus.queries.{metric} (built-in: {', '.join(BUILTIN_METRICS)})",
                key=True,
                suggestion=f"did you mean '{close[0]}'?" if close else None,
            )

    section = "canary_deployment" if "canary_deployment" in ctx.doc.data else "canary"
    if config.canary is not None:
        for i, stage in enumerate(config.canary.stages):
            for metric in stage.success_criteria:
                check((section, "stages", i, "success_criteria", metric), metric)
    switch = "blue_green_deployment" if "blue_green_deployment" in ctx.doc.data else "blue_green"
    for block, where in ((config.canary, section), (config.blue_green, switch)):
        if block is None:
            continue
        triggers = [t for t in block.rollback_triggers if not t.manual]
        raw = ctx.doc.data.get(where, {}).get("rollback_triggers") or []
        for i, item in enumerate(raw):
            for key in item if isinstance(item, dict) else ():
                if any(t.metric == key for t in triggers):
                    check((where, "rollback_triggers", i, key), str(key))
    if config.analysis.baseline is not None:
        for i, metric in enumerate(config.analysis.baseline.metrics):
            if metric not in known:
                check(("analysis", "baseline", "metrics", i), metric)
        if config.canary is None or not config.canary.baseline:
            ctx.error(
                ("analysis", "baseline"),
                "expected canary.baseline: true for analysis.baseline (it compares the canary"
                " with a baseline Deployment), found no baseline: add canary.baseline: true"
                " or remove analysis.baseline",
                key=True,
            )


def _assemble(data: dict[str, Any], doc: YamlDocument, ctx: Context) -> model.Config:
    app: str = data["app"]
    default_strategy: model.StrategyName = data.get("strategy", "rolling")
    defaults: dict[str, Any] = data.get("defaults", {})
    environments = {
        name: _environment(name, overlay, defaults, app, default_strategy, ctx)
        for name, overlay in data["environments"].items()
    }
    manifests = dict(data.get("manifests", {}))
    if "templates" in manifests:
        manifests["templates"] = (Path(doc.file).parent / manifests["templates"]).resolve()
    if "files" in manifests:
        manifests["files"] = tuple(manifests["files"])
    return model.Config(
        source=doc.file,
        app=app,
        image=data["image"],
        environments=environments,
        strategy=default_strategy,
        manifests=model.ManifestsConfig(**manifests),
        rolling=data.get("rolling", model.RollingConfig()),
        canary=data.get("canary"),
        blue_green=data.get("blue_green"),
        analysis=data.get("analysis", model.AnalysisConfig()),
        notifications=data.get("notifications", model.NotificationsConfig()),
        migrations=data.get("migrations"),
        build=data.get("build"),
        scan=data.get("scan"),
    )


def merge_environment(defaults: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    """Environment values win over defaults; env, external_services, resources merge per key."""
    merged = dict(defaults)
    for key, value in overlay.items():
        if key in _MERGED_KEYS and key in defaults:
            merged[key] = {**defaults[key], **value}
        else:
            merged[key] = value
    return merged


def _environment(
    name: str,
    overlay: dict[str, Any],
    defaults: dict[str, Any],
    app: str,
    default_strategy: model.StrategyName,
    ctx: Context,
) -> model.EnvironmentConfig:
    values = merge_environment(defaults, overlay)
    instance = f"{app}-{name}"
    if len(instance) > 63:
        # it labels every object (app.kubernetes.io/instance) and is the default namespace
        ctx.error(
            ("environments", name),
            f"expected app name + '-' + environment name to fit in 63 characters (it names the"
            f" default namespace and labels every object), found {len(instance)} characters;"
            f" shorten the environment name",
            key=True,
        )
    namespace = values.pop("namespace", instance)
    resources = model.Resources(**values.pop("resources", {}))
    values.setdefault("strategy", default_strategy)
    return model.EnvironmentConfig(name=name, namespace=namespace, resources=resources, **values)
