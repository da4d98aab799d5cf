"""Plain manifests (``manifests.files``): YAML files as they are in the repository.

No templating: the files are read, never rendered. ``{environment}`` in a path or glob is the
environment's name (``deploy/{environment}/*.yaml``). Every file must resolve, symlinks
followed, to a regular file inside the repository, like templates (docs/manifests.md).
"""

from __future__ import annotations

import glob
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ci_deploy.config.load import repository_root
from ci_deploy.errors import Location, Problem
from ci_deploy.render.jinja import display_path
from ci_deploy.render.loader import TemplateRefused, read_inside
from ci_deploy.render.sources import SourceText

if TYPE_CHECKING:
    from ci_deploy.config import Config, EnvironmentConfig

YAML_SUFFIXES = (".yaml", ".yml")


class PlainFiles:
    """The files the globs of ``manifests.files`` match, in pattern then name order."""

    name = "files"

    def texts(
        self,
        cfg: Config,
        env: EnvironmentConfig,
        context: dict[str, Any],
        problems: list[Problem],
    ) -> list[SourceText]:
        base = Path(os.path.abspath(Path(cfg.source).parent))
        root, _what = repository_root(cfg.source)
        real_root = Path(os.path.realpath(root))
        where = Location(cfg.source)
        seen: set[Path] = set()
        out: list[SourceText] = []
        for index, pattern in enumerate(cfg.manifests.files or ()):
            key = f"manifests.files[{index}]"
            expanded = pattern.replace("{environment}", env.name)
            matches = sorted(Path(p) for p in glob.glob(str(base / expanded), recursive=True))
            files = [m for m in matches if not m.is_dir()]
            if not files:
                problems.append(
                    Problem(where, key, f"'{expanded}' matches no file (relative to {base})")
                )
                continue
            for path in files:
                if path in seen:
                    continue
                seen.add(path)
                shown = display_path(path)
                try:
                    text = read_inside(path, real_root, shown, str(root), what="the repository")
                    out.append(SourceText(shown, text, rendered=False))
                except TemplateRefused as exc:
                    problems.append(Problem(where, key, str(exc)))
                except UnicodeDecodeError:
                    problems.append(Problem(where, key, f"{shown} is not UTF-8 text"))
        return out
