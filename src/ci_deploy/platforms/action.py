"""The container entrypoint of the GitHub Action: action inputs → one ``ci-deploy`` command.

The runner hands ``with:`` inputs to a Docker action as ``INPUT_<NAME>`` environment variables
(never through a shell), so no input can inject a command. This module turns them into the
argument list of the CLI and runs it in the same process, which also lets the secrets masked
here be redacted by every later step.

Without ``INPUT_COMMAND`` (``docker run IMAGE deploy --env staging``, ``uses: docker://…`` with
only ``args``) the arguments are the command line.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from ci_deploy.errors import CiDeployError, UserInputError
from ci_deploy.platforms import Platform, detect_platform

# action input -> CLI option of the verb; passed only when set and only to verbs that take it.
OPTION_INPUTS: dict[str, str] = {
    "environment": "--env",
    "image": "--image",
    "strategy": "--strategy",
    "context": "--context",
    "namespace": "--namespace",
    "timeout": "--timeout",
    "time-scale": "--time-scale",
    "report": "--report",
    "sarif": "--sarif",
    "severity": "--severity",
}
# action input (true or false) -> the CLI flag it sets when true.
FLAG_INPUTS: dict[str, str] = {
    "allow-insecure-tls": "--allow-insecure-tls",
    "dry-run": "--dry-run",
    "full": "--full",
    "no-pause": "--no-pause",
    "push": "--push",
}
TRUE_WORDS = {"true", "yes", "1", "on"}
FALSE_WORDS = {"false", "no", "0", "off"}


@dataclass
class Invocation:
    """What to run: CLI arguments, extra environment, files to delete afterwards."""

    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    temp_files: list[str] = field(default_factory=list)


def _verb_options(verb_path: Sequence[str]) -> set[str]:
    """The option strings (``--env`` …) the command ``ci-deploy <verb_path…>`` accepts."""
    import click

    from ci_deploy.cli import cli

    command: click.Command = cli
    ctx = click.Context(cli)
    for word in verb_path:
        if not isinstance(command, click.Group):
            break
        sub = command.get_command(ctx, word)
        if sub is None:
            break
        command = sub
    options: set[str] = set()
    for param in command.params:
        if isinstance(param, click.Option):
            options.update(param.opts)
            options.update(param.secondary_opts)
    return options


def _flag(name: str, value: str) -> bool:
    word = value.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise UserInputError(f"input '{name}': expected true or false, found {value!r}")


def _kubeconfig_file(value: str, platform: Platform, inv: Invocation) -> str:
    """A path to the kubeconfig: the input itself if it names a file, else a 0600 temp file."""
    if "\n" not in value and os.path.isfile(value):
        return value
    # Mask the credentials inside; masking every line of the file would hide ordinary words
    # such as "users:" from the whole log. Content without recognisable credentials (not a
    # kubeconfig?) is masked whole, line by line.
    from ci_deploy.kube.credentials import kubeconfig_credentials

    secrets = kubeconfig_credentials(value)
    for secret in secrets or [value]:
        platform.mask(secret)
    fd, path = tempfile.mkstemp(prefix="ci-deploy-kubeconfig-", suffix=".yaml")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:  # mkstemp creates it 0600
        fh.write(value)
    inv.temp_files.append(path)
    return path


def invocation_from_inputs(platform: Platform) -> Invocation:
    """Build the CLI invocation from the action inputs (``INPUT_*``)."""
    token = platform.get_input("github-token")
    if token:
        platform.mask(token)
    command_words = shlex.split(platform.get_input("command") or "deploy")
    if not command_words:
        raise UserInputError("input 'command': empty")
    from ci_deploy.verbs import VERBS

    if command_words[0] not in VERBS:
        raise UserInputError(
            f"input 'command': unknown verb {command_words[0]!r}",
            hint=f"one of: {', '.join(VERBS)}",
        )
    inv = Invocation(argv=[])
    if token:
        inv.env["GITHUB_TOKEN"] = token
    config = platform.get_input("config")
    if config:
        inv.argv += ["--config", config]
    inv.argv += command_words
    accepted = _verb_options(command_words)
    verb = " ".join(command_words)
    for name, option in OPTION_INPUTS.items():
        value = platform.get_input(name)
        if value is None:
            continue
        if option not in accepted:
            raise UserInputError(f"input '{name}' is not an option of `ci-deploy {verb}`")
        inv.argv += [option, value]
    kubeconfig = platform.get_input("kubeconfig")
    extra = shlex.split(platform.get_input("args") or "")
    if kubeconfig:
        _refuse_cluster_override(extra)  # before the credentials are written anywhere
        path = _kubeconfig_file(kubeconfig, platform, inv)
        inv.env["KUBECONFIG"] = path
        if "--kubeconfig" in accepted:
            inv.argv += ["--kubeconfig", path]
    for name, flag in FLAG_INPUTS.items():
        value = platform.get_input(name)
        if value is None or not _flag(name, value):
            continue  # false is every verb's default: not an error for a verb without the flag
        if flag not in accepted:
            raise UserInputError(f"input '{name}' is not an option of `ci-deploy {verb}`")
        inv.argv.append(flag)
    inv.argv += extra
    return inv


# Options that would point the credentials of the ``kubeconfig`` input at another cluster or
# user: a workflow that passes event data (a PR title, a branch name) into ``args`` must not be
# able to swap in a kubeconfig from the checkout whose ``exec:`` runs with the real secrets.
CLUSTER_OPTIONS = ("--kubeconfig", "--context")


def _refuse_cluster_override(args: Sequence[str]) -> None:
    for arg in args:
        option = arg.split("=", 1)[0]
        if option in CLUSTER_OPTIONS:
            raise UserInputError(
                f"input 'args' sets {option}, but the 'kubeconfig' input is set: the cluster "
                "comes from the inputs only",
                hint="use the 'context' input to choose a context of that kubeconfig",
            )


def uses_inputs(environ: Mapping[str, str]) -> bool:
    """True when started as the action: the runner sets ``INPUT_COMMAND`` (it has a default).

    The runner (and act) also pass the ``args`` input as the container's arguments, so in that
    case the arguments are not a command line: the inputs, ``args`` included, are.
    """
    return "INPUT_COMMAND" in environ


@contextlib.contextmanager
def _environment(changes: Mapping[str, str]) -> Iterator[None]:
    """``os.environ`` with ``changes`` for the block, then as found (matters in tests)."""
    saved = {key: os.environ.get(key) for key in changes}
    os.environ.update(changes)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def run(argv: Sequence[str], environ: Mapping[str, str] | None = None) -> int:
    """Run one ``ci-deploy`` command (from the action inputs, or ``argv``); its exit code."""
    from ci_deploy.cli import main as cli_main

    env = os.environ if environ is None else environ
    platform = detect_platform(env)
    from_inputs = uses_inputs(env)
    try:
        inv = invocation_from_inputs(platform) if from_inputs else Invocation(argv=list(argv))
    except CiDeployError as exc:
        platform.error(exc.message)
        if exc.hint:
            platform.log(f"  hint: {exc.hint}")
        return exc.exit_code
    if from_inputs:  # show what the inputs became; the kubeconfig is a temp path, secrets masked
        platform.log("ci-deploy " + shlex.join(inv.argv))
    try:
        with _environment(inv.env):
            cli_main(inv.argv)
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    finally:
        for path in inv.temp_files:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
    return 0


def main() -> None:
    """Console entry: ``python -m ci_deploy.platforms.action [ARGS…]``."""
    sys.exit(run(sys.argv[1:]))


if __name__ == "__main__":
    main()
