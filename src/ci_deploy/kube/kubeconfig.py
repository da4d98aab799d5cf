"""Which kubeconfig files and context a client uses, with one clear line for each way it fails.

The paths are kubectl's: ``--kubeconfig`` (or ``$KUBECONFIG``, which may list several files
separated by ``os.pathsep``; an empty one counts as unset), else ``~/.kube/config``. Files of
the list that do not exist are skipped, as kubectl does, and named when that leaves nothing or
the context is not found. The files are read here only to explain what is wrong with them; the
``kubernetes`` client loads them itself. No message quotes the files' content (credentials).
"""

from __future__ import annotations

import os
import shutil
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
    user: str | None = None
    exec_command: str | None = None  # the user's exec credential plugin, if it has one
    insecure: bool = False  # the cluster sets insecure-skip-tls-verify: true

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


CONTAINER_WORKSPACE = "/github/workspace"  # where the runner mounts the workspace in a container


def in_container_action() -> bool:
    """Running as a container action: the runner gives it the workspace at /github/workspace."""
    return (
        os.environ.get("GITHUB_ACTIONS") == "true"
        and os.environ.get("GITHUB_WORKSPACE") == CONTAINER_WORKSPACE
    )


def _missing_error(missing: list[str], default: bool) -> UserInputError:
    unseen = [p for p in missing if not p.startswith("/github/")]
    if not default and in_container_action() and unseen:
        return UserInputError(
            f"kubeconfig {unseen[0]} does not exist in this container: a container action sees "
            f"the runner's workspace (as {CONTAINER_WORKSPACE}) and not the rest of the "
            "runner's disk, so a KUBECONFIG an earlier step wrote under the runner's temp "
            "folder ($RUNNER_TEMP: azure/k8s-set-context, aws eks update-kubeconfig, "
            "google-github-actions/get-gke-credentials) is not here",
            hint="pass the kubeconfig's content in the action's kubeconfig input, or write the "
            "file under $GITHUB_WORKSPACE and pass its path relative to the workspace, or run "
            "the ci-deploy CLI on the runner with the host-mode action org/ci-deploy/setup "
            "(docs/ci.md#cloud-credentials-eks-gke-aks)",
        )
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


def _entry(docs: list[dict[str, Any]], section: str, name: str | None) -> dict[str, Any]:
    """The first file's ``section`` entry called ``name`` (its inner mapping), or {}."""
    inner = section[:-1]  # clusters → cluster, users → user
    for doc in docs:
        for entry in doc.get(section) or []:
            if isinstance(entry, dict) and entry.get("name") == name:
                value = entry.get(inner)
                return value if isinstance(value, dict) else {}
    return {}


def _user_of(docs: list[dict[str, Any]], context: str) -> str | None:
    for doc in docs:
        for entry in doc.get("contexts") or []:
            if isinstance(entry, dict) and entry.get("name") == context:
                inner = entry.get("context")
                user = inner.get("user") if isinstance(inner, dict) else None
                return user if isinstance(user, str) else None
    return None


# Where a short-lived token comes from, for the plugins of the three big clouds.
TOKEN_COMMANDS = {
    "aws": "aws eks get-token --cluster-name NAME",
    "aws-iam-authenticator": "aws eks get-token --cluster-name NAME",
    "gke-gcloud-auth-plugin": "gcloud auth print-access-token",
    "kubelogin": "kubelogin get-token (or az account get-access-token)",
}


def check_credentials(choice: Choice, *, allow_insecure: bool = False) -> None:
    """Refuse, with one line saying what to do, a cluster whose certificate is not checked
    (unless allowed) and an exec credential plugin that is not installed here."""
    where = f"kubeconfig {choice.where} context {choice.context!r}"
    if choice.insecure and not allow_insecure:
        raise UserInputError(
            f"{where}: cluster {choice.cluster!r} sets insecure-skip-tls-verify: true, so the "
            "API server's certificate would not be checked and whoever answers in its place "
            "would get the credentials",
            hint="add the cluster's CA (certificate-authority-data), or, for a throwaway "
            "cluster, pass --allow-insecure-tls (the action's allow-insecure-tls input)",
        )
    command = choice.exec_command
    if command and shutil.which(command) is None:
        name = os.path.basename(command)
        token = TOKEN_COMMANDS.get(name, "the cloud CLI's get-token command")
        raise UserInputError(
            f"{where}: user {choice.user!r} gets its credentials from the exec plugin "
            f"{command!r}, which is not installed here (not on PATH)",
            hint=f"obtain a short-lived token in an earlier step ({token}) and pass a "
            "kubeconfig with that token (the action's kubeconfig input), or run the ci-deploy "
            f"CLI on the runner, where {name} is, with the host-mode action org/ci-deploy/setup "
            "(docs/ci.md#cloud-credentials-eks-gke-aks)",
        )


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
    cluster = contexts[name]
    user = _user_of(docs, str(name))
    plugin = _entry(docs, "users", user).get("exec")
    command = plugin.get("command") if isinstance(plugin, dict) else None
    insecure = _entry(docs, "clusters", cluster).get("insecure-skip-tls-verify") is True
    return Choice(
        tuple(paths),
        tuple(missing),
        str(name),
        cluster,
        user=user,
        exec_command=command if isinstance(command, str) and command else None,
        insecure=insecure,
    )
