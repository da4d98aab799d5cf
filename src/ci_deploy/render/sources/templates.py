"""The Jinja2 templates: the user's folder (``manifests.templates``) or the built-in ones."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ci_deploy.errors import ConfigError, Location, Problem
from ci_deploy.render.jinja import (
    TemplateFile,
    display_path,
    list_templates,
    make_environment,
    render_template,
)
from ci_deploy.render.paths import template_dir
from ci_deploy.render.sources import SourceText

if TYPE_CHECKING:
    from ci_deploy.config import Config, EnvironmentConfig


class Templates:
    """Every top-level template of the folder, rendered with the environment's context."""

    name = "templates"

    def texts(
        self,
        cfg: Config,
        env: EnvironmentConfig,
        context: dict[str, Any],
        problems: list[Problem],
    ) -> list[SourceText]:
        user_dir, templates = _templates(cfg)
        jinja_env = make_environment(user_dir, template_dir())
        out: list[SourceText] = []
        for template in templates:
            result = render_template(jinja_env, template, context)
            if isinstance(result, Problem):
                problems.append(result)
            else:
                out.append(SourceText(template.display, result))
        return out


def _templates(cfg: Config) -> tuple[Path | None, list[TemplateFile]]:
    user_dir = cfg.manifests.templates
    folder = user_dir if user_dir is not None else template_dir()
    where = Location(cfg.source)
    if user_dir is not None and not user_dir.is_dir():
        raise ConfigError(
            [Problem(where, "manifests.templates", f"folder {display_path(user_dir)} not found")]
        )
    templates = list_templates(folder)
    if not templates:
        raise ConfigError(
            [
                Problem(
                    where,
                    "manifests.templates",
                    f"no templates (*.yaml, *.yml, *.yaml.j2, *.j2) in {display_path(folder)}",
                )
            ]
        )
    return user_dir, templates
