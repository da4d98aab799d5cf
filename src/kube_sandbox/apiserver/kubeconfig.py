"""The kubeconfig that points kubectl and the Python client at a sandbox, and nothing else.

Cluster, user and context are all named ``ci-deploy-sandbox``. Over TLS the cluster carries the
sandbox's CA (``certificate-authority-data``) and the user its cluster-admin token; each
``--user NAME=ROLE`` adds a user and a context ``ci-deploy-sandbox-NAME`` (same cluster; the
context's namespace is the one the role is bound in, else ``default``).

The sandbox writes a kubeconfig it creates (removed again on stop), or, only when asked
(``merge``), adds its entries to an existing file and takes them out again on stop, so no
context is left pointing at a port nobody serves. A merged file keeps its current context
unless ``use_context`` switches it; on stop it gets back the current context it had, and when
nothing else changed it in between, its exact bytes. A sandbox that is killed (SIGKILL)
cannot clean up: its entries stay.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from kube_sandbox.storage.files import write_private

if TYPE_CHECKING:
    from kube_sandbox.apiserver.auth import User

NAME = "ci-deploy-sandbox"
_SECTIONS = (("clusters", "cluster"), ("users", "user"), ("contexts", "context"))


class KubeconfigError(Exception):
    """The kubeconfig cannot be used as asked; ``hint`` says what to do instead."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


def default_kubeconfig(environ: Mapping[str, str] | None = None, home: Path | None = None) -> Path:
    """``$XDG_RUNTIME_DIR``, else ``$XDG_CACHE_HOME``, else ``~/.cache`` + ``ci-deploy/sandbox/
    kubeconfig``: outside the working tree, so no repository gets a file pointing at a sandbox."""
    environ = os.environ if environ is None else environ
    for variable in ("XDG_RUNTIME_DIR", "XDG_CACHE_HOME"):
        base = environ.get(variable, "")
        if os.path.isabs(base):  # the XDG spec: a relative path is invalid, ignore it
            return Path(base) / "ci-deploy" / "sandbox" / "kubeconfig"
    return (home or Path.home()) / ".cache" / "ci-deploy" / "sandbox" / "kubeconfig"


class SandboxKubeconfig:
    """The sandbox's entries in one kubeconfig file: checked, written at start, removed at stop."""

    def __init__(self, path: Path, *, merge: bool = False, use_context: bool = False) -> None:
        self.path = path
        self.created = not path.exists()
        self._use_context = use_context or self.created
        self._original: bytes | None = None
        self._written: bytes | None = None
        self._previous_context: Any = None
        self._mode: int | None = None  # of a merged file, kept through the rewrites
        self._names = {NAME}  # the entries this sandbox writes (and removes)
        if self.created:
            return
        if not merge:
            hint = (
                f"it holds only {NAME} entries: another sandbox serves it, or one was killed "
                "before it could remove it (delete it then)"
                if _only_sandbox_entries(path)
                else f"pass --merge to add the {NAME} context to it (removed again on stop)"
            )
            raise KubeconfigError(
                f"--kubeconfig {path} exists; the sandbox writes only a kubeconfig it creates",
                hint=f"{hint}, or choose another path with --kubeconfig",
            )
        try:
            self._original = path.read_bytes()
            self._mode = path.stat().st_mode & 0o7777
        except OSError as exc:
            raise KubeconfigError(f"--kubeconfig {path}: {exc.strerror or exc}") from exc
        self._config(self._original)  # refuse now, before anything is served

    def write(
        self,
        url: str,
        namespace: str = "default",
        *,
        ca_pem: bytes | None = None,
        users: Iterable[User] = (),
        certificates: Mapping[str, tuple[bytes, bytes]] | None = None,
    ) -> None:
        """Add (or refresh) the sandbox's cluster, user and context; with ``ca_pem``, the CA and
        the first of ``users`` (its token) as ``ci-deploy-sandbox``, one entry per other user
        (``certificates``: user name -> (certificate, key) PEM of the users that sign in with
        one)."""
        if self.created and self.path.exists():  # another sandbox was quicker
            raise KubeconfigError(f"--kubeconfig {self.path} was created by someone else meanwhile")
        config = {} if self._original is None else self._config(self._original)
        self._previous_context = config.get("current-context")
        config.setdefault("apiVersion", "v1")
        config.setdefault("kind", "Config")
        cluster: dict[str, str] = {"server": url}
        if ca_pem is not None:
            cluster["certificate-authority-data"] = base64.b64encode(ca_pem).decode("ascii")
        listed = list(users)
        entries: dict[str, list[dict[str, Any]]] = {
            "clusters": [{"name": NAME, "cluster": cluster}],
            "users": [],
            "contexts": [],
        }
        for index, user in enumerate(listed or [None]):
            name = NAME if index == 0 else f"{NAME}-{user.name if user else ''}"
            credential: dict[str, str] = {"token": user.token} if user is not None else {}
            if user is not None and certificates and user.name in certificates:
                cert_pem, key_pem = certificates[user.name]
                credential = {
                    "client-certificate-data": base64.b64encode(cert_pem).decode("ascii"),
                    "client-key-data": base64.b64encode(key_pem).decode("ascii"),
                }
            where = (user.namespace if user is not None else None) or namespace
            entries["users"].append({"name": name, "user": credential})
            entries["contexts"].append({"name": name, "context": _context(where, name)})
            self._names.add(name)
        for section, _key in _SECTIONS:
            config[section] = [*self._others(config.get(section)), *entries[section]]
        if self._use_context:
            config["current-context"] = NAME
        text = yaml.safe_dump(config, sort_keys=False)
        try:
            self._save(text)
        except OSError as exc:
            raise KubeconfigError(f"--kubeconfig {self.path}: {exc.strerror or exc}") from exc
        self._written = text.encode("utf-8")

    def remove(self) -> str | None:
        """Take the sandbox's entries out again; what was done, for the stop message."""
        if self._written is None:
            return None
        written, self._written = self._written, None
        try:
            current = self.path.read_bytes()
        except FileNotFoundError:
            return None
        if current == written:  # nobody else changed it: put back exactly what was there
            if self._original is None:
                self.path.unlink()
                return f"{self.path} removed"
            self._save(self._original.decode("utf-8"))
            return f"{NAME} removed from {self.path}"
        return self._remove_entries(current)

    def _remove_entries(self, current: bytes) -> str:
        try:
            config = self._config(current)
        except KubeconfigError:
            return f"{self.path} changed and is no kubeconfig now: left as it is"
        for section, _key in _SECTIONS:
            if section in config:
                config[section] = self._others(config[section])
        context = config.get("current-context")
        if isinstance(context, str) and context in self._names:
            if self._previous_context is None or self._previous_context in self._names:
                del config["current-context"]
            else:
                config["current-context"] = self._previous_context
        self._save(yaml.safe_dump(config, sort_keys=False))
        return f"{NAME} removed from {self.path}"

    def _save(self, text: str) -> None:
        # a new file is 0600; a merged one keeps the mode it had
        write_private(self.path, text, self._mode if self._mode is not None else 0o600)

    def _config(self, data: bytes) -> dict[str, Any]:
        try:
            loaded = yaml.safe_load(data.decode("utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise self._not_a_kubeconfig(f"unreadable YAML ({exc})") from exc
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise self._not_a_kubeconfig("not a kubeconfig (a YAML mapping)")
        for section, _key in _SECTIONS:
            if not isinstance(loaded.get(section) or [], list):
                raise self._not_a_kubeconfig(f"its {section} are not a list")
        return loaded

    def _not_a_kubeconfig(self, why: str) -> KubeconfigError:
        return KubeconfigError(
            f"--kubeconfig {self.path}: cannot merge into it: {why}",
            hint="choose another path with --kubeconfig",
        )

    def _others(self, entries: list[Any] | None) -> list[Any]:
        """The entries of a section (checked to be a list or empty) that are not this
        sandbox's."""
        return [
            e for e in entries or [] if not (isinstance(e, dict) and e.get("name") in self._names)
        ]


def _context(namespace: str, user: str = NAME) -> dict[str, str]:
    return {"cluster": NAME, "user": user, "namespace": namespace}


def _is_sandbox_entry(entry: Any) -> bool:
    name = entry.get("name") if isinstance(entry, dict) else None
    return isinstance(name, str) and (name == NAME or name.startswith(NAME + "-"))


def _only_sandbox_entries(path: Path) -> bool:
    """True for a kubeconfig such as the sandbox creates: its own entries and nothing else."""
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return False
    if not isinstance(config, dict):
        return False
    entries = [entry for section, _key in _SECTIONS for entry in config.get(section) or []]
    return bool(entries) and all(_is_sandbox_entry(e) for e in entries)
