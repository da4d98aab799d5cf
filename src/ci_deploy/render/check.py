"""Render every environment offline, as deploy would: what ``config validate`` checks beyond
the configuration file itself. Nothing is written and no cluster is contacted."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from ci_deploy.errors import ConfigError, Location, Problem, UserInputError

if TYPE_CHECKING:
    from ci_deploy.config import Config


@dataclass(frozen=True)
class RenderedEnvironment:
    """One environment that rendered: its name, strategy and number of objects."""

    name: str
    strategy: str
    objects: int


def placeholder_image(cfg: Config) -> str:
    """The image validation renders with: the configured repository, tag ``validate``."""
    return f"{cfg.image.repository}:validate"


def render_every_environment(cfg: Config, image: str) -> list[RenderedEnvironment]:
    """Render and schema-check every environment with ``image``.

    Raises one ConfigError with the problems of all environments; a problem found in several
    environments is reported once, naming each of them.
    """
    from ci_deploy.render.manifests import render_manifests

    rendered: list[RenderedEnvironment] = []
    found: dict[Problem, list[str]] = {}  # dicts keep the first-seen order
    for env in cfg.environments.values():
        try:
            objects = render_manifests(cfg, env.name, image)
        except ConfigError as exc:
            problems = exc.problems
        except UserInputError as exc:  # e.g. a label value too long for this environment
            problems = [Problem(Location(cfg.source), "", exc.message, exc.hint)]
        else:
            rendered.append(RenderedEnvironment(env.name, env.strategy, len(objects)))
            continue
        for problem in problems:
            found.setdefault(problem, []).append(env.name)
    if found:
        raise ConfigError(
            [_naming(problem, names) for problem, names in found.items()],
            hint=f"config validate renders every environment as deploy does, with the image "
            f"{image}; --no-render checks only the configuration file",
        )
    return rendered


def _naming(problem: Problem, environments: list[str]) -> Problem:
    label = "environment" if len(environments) == 1 else "environments"
    where = f"{label} {', '.join(environments)}"
    key = f"{where}: {problem.key_path}" if problem.key_path else where
    return replace(problem, key_path=key)
