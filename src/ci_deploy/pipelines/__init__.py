"""CI pipelines rendered from the configuration: a GitHub workflow or a .gitlab-ci.yml.

    from ci_deploy.pipelines import plan_pipeline, render_pipeline
    text = render_pipeline(plan_pipeline(cfg, "github"))

The templates are ``templates/pipelines/<platform>.yml.j2`` (shipped in the wheel as
``ci_deploy/templates/pipelines``); both start with ``by_hand.j2``, the comment that lists
what to configure by hand. They use ``[[ … ]]`` / ``[% … %]`` as Jinja delimiters, so
GitHub's ``${{ … }}`` expressions are written as they are.
"""

from __future__ import annotations

import json
from pathlib import Path

from ci_deploy.pipelines.model import (
    PLATFORMS,
    STAGE_VERBS,
    EnvironmentStep,
    GitLabTemplate,
    PipelinePlan,
    plan_pipeline,
)
from ci_deploy.verbs import verb_available

__all__ = [
    "PLATFORMS",
    "STAGE_VERBS",
    "EnvironmentStep",
    "GitLabTemplate",
    "PipelinePlan",
    "pipeline_template_dir",
    "plan_pipeline",
    "render_pipeline",
    "verb_available",
]


def pipeline_template_dir() -> Path:
    """Directory of the pipeline templates, in an installed wheel or a source checkout.

    They sit beside the manifest templates (``templates/pipelines`` next to
    ``templates/manifests``), so the renderer's lookup of that folder finds them too.
    """
    from ci_deploy.render.paths import template_dir

    path = template_dir().parent / "pipelines"
    if not path.is_dir():  # a broken installation, not bad user input
        raise RuntimeError(f"pipeline templates not found; looked in {path}")
    return path


def yaml_string(value: object) -> str:
    """A YAML double-quoted scalar (JSON strings are valid YAML)."""
    return json.dumps(str(value))


def render_pipeline(plan: PipelinePlan) -> str:
    """The pipeline file's text for ``plan.platform``."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(pipeline_template_dir())),
        undefined=jinja2.StrictUndefined,
        variable_start_string="[[",
        variable_end_string="]]",
        block_start_string="[%",
        block_end_string="%]",
        comment_start_string="[#",
        comment_end_string="#]",
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["q"] = yaml_string
    template = env.get_template(f"{plan.platform}.yml.j2")
    return template.render(plan=plan, envs=plan.environments)
