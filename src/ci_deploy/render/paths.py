"""Where the built-in manifest templates live: inside the wheel or in a source checkout."""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent.parent  # .../ci_deploy


def template_dir() -> Path:
    """Directory of the built-in ``*.yaml.j2`` manifest templates.

    An installed wheel carries them as ``ci_deploy/templates/manifests`` (pyproject
    force-include); an editable checkout has them at ``<repo>/templates/manifests``.
    """
    candidates = (
        _PACKAGE_DIR / "templates" / "manifests",  # wheel
        _PACKAGE_DIR.parent.parent / "templates" / "manifests",  # <repo>/src/ci_deploy -> <repo>
    )
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    # A broken installation, not bad user input: say where we looked.
    raise RuntimeError(
        "built-in manifest templates not found; looked in " + ", ".join(map(str, candidates))
    )
