"""Which kubeconfig files and context a client uses, with one clear line for each way it fails.

The paths are kubectl's: ``--kubeconfig`` (or ``$KUBECONFIG``, which may list several files
separated by ``os.pathsep``; an empty one counts as unset), else ``~/.kube/config``. Files of
the list that do not exist are skipped, as kubectl does, and named when that leaves nothing or
the context is not found. The files are read here only to explain what is wrong with them; the
``kubernetes`` client loads them itself. No message quotes the files' content (credentials).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from ci_deploy.errors import UserInputError

DEFAULT_PATH = "~/.kube/config"
WAY_OUT = "pass --kubeconfig PATH (or set KUBECONFIG) to the kubeconfig of the cluster"


@dataclass(frozen=True)
class Choice:
    """The files to load (existing ones, in order), the context and its cluster."""

    paths: tuple[str, ...]
    missing: tuple[str, ...]
    context: str
    cluster: str | None

    @property
    def config_file(self) -> str:
        """The value the ``kubernetes`` client takes for several files."""
        return os.pathsep.join(self.paths)

    @property
    def where(self) -> str:
        return " + ".join(self.paths)


def kubeconfig_paths(kubeconfig: str | None) -> tuple[list[str], bool]:
    """The candidate files (``~`` expanded) and whether they are the default."""
    value = kubeconfig or os.environ.get("KUBECONFIG") or ""
    paths = [os.path.expanduser(p) for p in value.split(os.pathsep) if p]
    if paths:
        return paths, False
    return [os.path.expanduser(DEFAULT_PATH)], True


def _missing_error(missing: list[str], default: bool) -> UserInputError:
    if default:
        text = f"no kubeconfig: {missing[0]} does not exist and KUBECONFIG is not set"
    elif len(missing) == 1:
        text = f"kubeconfig {missing[0]} does not exist"
    else:
        text = f"no kubeconfig found: {', '.join(missing[:-1])} and {missing[-1]} do not exist"
    return UserInputError(f"{text}; {WAY_OUT}")


def read_document(path: str) -> dict[str, Any]:
    """One kubeconfig file as a mapping; UserInputError naming the path (and line) otherwise."""
    import yaml

    try:
        # A stream, not a string: PyYAML then quotes no snippet of the file in its errors.
        with open(path, encoding="utf-8") as stream:
            doc = yaml.safe_load(stream)
    except OSError as exc:
        raise UserInputError(
            f"cannot read kubeconfig {path}: {exc.strerror or exc}; {WAY_OUT}"
        ) from exc
    except UnicodeDecodeError as exc:
        raise UserInputError(f"kubeconfig {path} is not text (UTF-8); {WAY_OUT}") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else path
        problem = getattr(exc, "problem", None) or "unreadable"
        raise UserInputError(
            f"kubeconfig {where}: not valid YAML ({problem}); fix the file"
        ) from exc
    if doc is None:
        raise UserInputError(f"kubeconfig {path} is empty; {WAY_OUT}")
    if not isinstance(doc, dict):
        raise UserInputError(
            f"kubeconfig {path} is not a kubeconfig (a mapping with clusters, contexts and "
            f"users); {WAY_OUT}"
        )
    return doc


def _contexts(docs: list[dict[str, Any]]) -> dict[str, str | None]:
    """Context name → its cluster, the first file's entry winning (kubectl's merge rule)."""
    found: dict[str, str | None] = {}
    for doc in docs:
        for entry in doc.get("contexts") or []:
            if isinstance(entry, dict) and isinstance(entry.get("name"), str):
                context = entry.get("context") if isinstance(entry.get("context"), dict) else {}
                cluster = context.get("cluster") if context else None
                found.setdefault(entry["name"], cluster if isinstance(cluster, str) else None)
    return found


def choose(kubeconfig: str | None, context: str | None) -> Choice:
    """The files and context to use; UserInputError (exit 2) with one line when there are none."""
    candidates, default = kubeconfig_paths(kubeconfig)
    paths = [p for p in candidates if os.path.lexists(p)]
    missing = [p for p in candidates if p not in paths]
    if not paths:
        raise _missing_error(missing, default)
    docs = [read_document(p) for p in paths]
    where = " + ".join(paths)
    verb = "does" if len(missing) == 1 else "do"
    skipped = f" ({', '.join(missing)} {verb} not exist)" if missing else ""
    contexts = _contexts(docs)
    if not contexts:
        raise UserInputError(
            f"kubeconfig {where} has no contexts; add one (kubectl config set-context), or pass "
            f"--kubeconfig PATH of another file{skipped}"
        )
    current = next((d["current-context"] for d in docs if d.get("current-context")), None)
    name = context or current
    known = ", ".join(contexts)
    if not name:
        raise UserInputError(
            f"kubeconfig {where} sets no current-context; pass --context NAME (it has: {known})"
        )
    if name not in contexts:
        raise UserInputError(
            f"kubeconfig {where} has no context {name!r} (it has: {known}); pass --context NAME "
            f"of one of them{skipped}"
        )
    return Choice(tuple(paths), tuple(missing), str(name), contexts[name])
