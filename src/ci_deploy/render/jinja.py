"""The sandboxed Jinja2 environment for manifest templates, and template errors as Problems.

Templates are user input: any failure (syntax, undefined variable, sandbox violation, an
exception raised while rendering) becomes a Problem naming the template file and line.
jinja2 is imported inside these functions so that importing ci_deploy.render stays cheap.
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass
from pathlib import Path, PurePath
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ci_deploy.errors import Location, Problem

if TYPE_CHECKING:
    from jinja2.sandbox import SandboxedEnvironment

TEMPLATE_SUFFIXES = (".yaml.j2", ".yml.j2", ".yaml", ".yml", ".j2")
BUILTIN_PREFIX = "builtin"  # user templates may {% include "builtin/service.yaml.j2" %}


@dataclass(frozen=True)
class TemplateFile:
    """One template to render: its loader name, its path and how messages show it."""

    name: str
    path: Path

    @property
    def display(self) -> str:
        return display_path(self.path)


def display_path(path: Path | str) -> str:
    """A path relative to the working directory when below it, else absolute."""
    absolute = Path(os.path.abspath(path))
    try:
        return str(absolute.relative_to(Path.cwd()))
    except ValueError:
        return str(absolute)


def list_templates(folder: Path) -> list[TemplateFile]:
    """Top-level templates of ``folder`` in name order; ``_*`` files are partials (not rendered)."""
    return [
        TemplateFile(entry.name, entry)
        for entry in sorted(folder.iterdir(), key=lambda p: p.name)
        if not entry.is_dir()  # a FIFO or a link out of the folder: listed, and refused
        and entry.name.endswith(TEMPLATE_SUFFIXES)
        and not entry.name.startswith(("_", "."))
    ]


def _to_json(value: Any) -> str:
    # JSON is YAML: a scalar, list or mapping written this way parses back exactly.
    return json.dumps(value, ensure_ascii=False, default=_json_default)


def _json_default(value: Any) -> Any:
    from jinja2 import Undefined

    if isinstance(value, Undefined):
        str(value)  # StrictUndefined raises UndefinedError naming the missing variable
    if isinstance(value, (tuple, set, frozenset)):
        return list(value)
    raise TypeError(f"cannot write a {type(value).__name__} into a manifest")


def _to_yaml(value: Any) -> str:
    from ci_deploy.render.yamlout import dump_object

    return dump_object(value).rstrip("\n")


@functools.cache
def _sandbox_class() -> type[SandboxedEnvironment]:
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class ManifestSandbox(ImmutableSandboxedEnvironment):
        """Jinja's sandbox, immutable (a template cannot change the values the next one sees),
        and without file access through the Path objects in the configuration."""

        def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
            if isinstance(obj, PurePath):  # read_text, write_text, unlink, open …
                return False
            result: bool = super().is_safe_attribute(obj, attr, value)
            return result

    return ManifestSandbox


def make_environment(user_dir: Path | None, builtin_dir: Path) -> SandboxedEnvironment:
    """A sandboxed, strict environment: undefined names fail, nothing is HTML-escaped."""
    from jinja2 import ChoiceLoader, FileSystemLoader, PrefixLoader, StrictUndefined

    from ci_deploy.render.loader import confined_loader

    builtin = FileSystemLoader(str(builtin_dir))  # ci-deploy's own files
    loader = ChoiceLoader(
        [
            confined_loader(user_dir) if user_dir is not None else builtin,
            PrefixLoader({BUILTIN_PREFIX: builtin}),
        ]
    )
    env = _sandbox_class()(
        loader=loader,
        undefined=StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,  # a line holding only {% if %} leaves no blank line in the YAML
        lstrip_blocks=True,
        auto_reload=False,
    )
    env.filters["to_json"] = _to_json
    env.filters["to_yaml"] = _to_yaml
    return env


def render_template(
    env: SandboxedEnvironment, template: TemplateFile, context: dict[str, Any]
) -> str | Problem:
    """The rendered text of ``template``, or the Problem that stopped it."""
    import jinja2
    from jinja2.exceptions import SecurityError

    from ci_deploy.render.loader import TemplateRefused

    try:
        return env.get_template(template.name).render(context)
    except jinja2.TemplateSyntaxError as exc:
        where = Location(
            display_path(exc.filename) if exc.filename else template.display, exc.lineno
        )
        return Problem(where, "", f"template syntax error: {exc.message}")
    except jinja2.UndefinedError as exc:
        from ci_deploy.render.undefined import explain_undefined

        where = _location(exc, template)
        message, suggestion = explain_undefined(exc.message or "", context, _source_line(where))
        return Problem(where, "", f"undefined: {message}", suggestion)
    except SecurityError as exc:
        return Problem(_location(exc, template), "", f"blocked by the template sandbox: {exc}")
    except TemplateRefused as exc:  # nothing of the file was read: the reason only
        return Problem(_location(exc, template), "", str(exc))
    except jinja2.TemplateNotFound as exc:
        return Problem(_location(exc, template), "", f"template not found: {exc.name}")
    except Exception as exc:  # a template is user code: any error it raises is bad input
        return Problem(_location(exc, template), "", f"template error: {type(exc).__name__}: {exc}")


def _location(exc: BaseException, template: TemplateFile) -> Location:
    """The innermost template frame of the traceback (jinja rewrites frames to template lines)."""
    found = Location(template.display)
    tb: TracebackType | None = exc.__traceback__
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename.endswith(TEMPLATE_SUFFIXES) and os.path.isfile(filename):
            found = Location(display_path(filename), tb.tb_lineno)
        tb = tb.tb_next
    return found


def _source_line(where: Location) -> str | None:
    """The template line a Location names (the file is read again: templates are small)."""
    if where.line is None:
        return None
    try:
        lines = Path(where.file).read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    return lines[where.line - 1] if 0 < where.line <= len(lines) else None


class StringTemplateError(Exception):
    """A one-line template (a PromQL query, a smoke-check URL) that did not render: why."""


@functools.cache
def _string_environment() -> SandboxedEnvironment:
    from jinja2 import StrictUndefined

    return _sandbox_class()(undefined=StrictUndefined, autoescape=False, auto_reload=False)


def render_string(text: str, context: dict[str, Any]) -> str:
    """``text`` rendered in the same sandbox as manifests (no loader: nothing to include)."""
    import jinja2
    from jinja2.exceptions import SecurityError

    try:
        return _string_environment().from_string(text).render(context)
    except jinja2.TemplateSyntaxError as exc:
        raise StringTemplateError(f"template syntax error: {exc.message}") from None
    except jinja2.UndefinedError as exc:
        raise StringTemplateError(f"undefined: {exc.message}") from None
    except SecurityError as exc:
        raise StringTemplateError(f"blocked by the template sandbox: {exc}") from None
    except Exception as exc:  # a template is user code: any error it raises is bad input
        raise StringTemplateError(f"template error: {type(exc).__name__}: {exc}") from None
