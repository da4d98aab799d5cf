"""The loader of the user's templates: regular files inside the templates folder, nothing else.

Jinja's FileSystemLoader refuses ``..`` in a template name but follows symlinks: a template
folder holding ``leak.yaml -> /proc/self/environ`` rendered the job's environment (credentials
included) into a manifest. Here every template, and every file it includes or imports, is
resolved to its real path first (symlinks followed) and read only when that path is inside the
templates folder and is a regular file (not a FIFO, which would block, nor a device).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ci_deploy.render.jinja import display_path

if TYPE_CHECKING:
    from jinja2 import BaseLoader, Environment


class TemplateRefused(Exception):
    """A template name that leads outside the templates folder or to a file that is not one.

    Not a TemplateNotFound: Jinja would then try the next loader and report "not found".
    """


def confined_loader(folder: Path) -> BaseLoader:
    """A Jinja loader for the templates in ``folder`` (and its subfolders) only."""
    from jinja2 import BaseLoader, TemplateNotFound
    from jinja2.loaders import split_template_path

    root = Path(os.path.realpath(folder))
    shown = display_path(folder)

    class ConfinedLoader(BaseLoader):
        def get_source(
            self, environment: Environment, template: str
        ) -> tuple[str, str, Callable[[], bool]]:
            path = root.joinpath(*split_template_path(template))  # refuses ".." in names
            if not os.path.lexists(path):
                raise TemplateNotFound(template)
            text = read_inside(path, root, template, shown)
            return text, str(path), lambda: True  # auto_reload is off: never re-read

    return ConfinedLoader()


def read_inside(
    path: Path, root: Path, name: str, shown: str, *, what: str = "the templates folder"
) -> str:
    """The text of ``path`` when its real path is a regular file inside ``root``."""
    real = Path(os.path.realpath(path))
    if not real.is_relative_to(root):
        raise TemplateRefused(
            f"refused to read '{name}': it resolves to {display_path(real)}, outside {what} {shown}"
        )
    _check_regular(os.stat(real).st_mode, name)  # before opening: opening a device may act
    # O_NOFOLLOW: the real path has no link left; one swapped in meanwhile is not followed.
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(real, flags)
    except OSError as exc:
        raise TemplateRefused(f"refused to read '{name}': {exc.strerror}") from None
    with os.fdopen(fd, "rb") as file:
        _check_regular(os.fstat(file.fileno()).st_mode, name)
        return file.read().decode("utf-8")


_KINDS = {
    stat.S_IFIFO: "a FIFO",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
    stat.S_IFDIR: "a folder",
}


def _check_regular(mode: int, name: str) -> None:
    if not stat.S_ISREG(mode):
        kind = _KINDS.get(stat.S_IFMT(mode), "not a file")
        raise TemplateRefused(f"refused to read '{name}': not a regular file ({kind})")
