"""The ``ci-deploy`` command line: a thin click group that loads each verb lazily.

Start-up must stay fast (``--help`` / ``--version`` import neither kubernetes, jinja2 nor
requests), so every verb lives in its own module under ``ci_deploy.commands`` and is imported
only when invoked. A verb appears in ``--help`` once its module exists.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
from typing import Any

import click

from ci_deploy import __version__
from ci_deploy.errors import EXIT_BAD_INPUT, EXIT_ROLLBACK_FAILED, CiDeployError, ConfigError
from ci_deploy.verbs import VERBS, verb_available

DEBUG_ENV = "CI_DEPLOY_DEBUG"


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name in VERBS if verb_available(name)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = VERBS.get(cmd_name)
        if entry is None or not verb_available(cmd_name):
            return None
        module = importlib.import_module(f"ci_deploy.commands.{entry[0]}")
        command = getattr(module, "command", None)
        if not isinstance(command, click.Command):  # a programming error, not user input
            raise RuntimeError(f"ci_deploy.commands.{entry[0]} defines no click command")
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Help text comes from VERBS so that ``--help`` imports no verb module.
        rows = [(name, VERBS[name][1]) for name in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="ci-deploy")
@click.option(
    "-c",
    "--config",
    "config_path",
    default="ci-deploy.yml",
    show_default=True,
    envvar="CI_DEPLOY_CONFIG",
    help="Configuration file.",
)
@click.option(
    "--debug",
    is_flag=True,
    envvar=DEBUG_ENV,
    help=f"On an error, also print the traceback (or set {DEBUG_ENV}=1).",
)
@click.pass_context
def cli(ctx: click.Context, config_path: str, debug: bool) -> None:
    """ci-deploy: render, deploy, verify and roll back applications on Kubernetes.

    The same engine runs as a GitHub Action, in GitLab CI, and here on the command line.
    Exit codes: 0 ok, 1 deployment failed (rolled back), 2 bad input, 3 rollback failed or
    internal error, 4 failed before changing anything.
    """
    ctx.ensure_object(dict)
    ctx.obj["config_path"] = config_path
    ctx.obj["debug"] = debug


class InternalError(CiDeployError):
    """An exception ci-deploy did not expect (a bug): exit 3, a human must look."""

    exit_code = EXIT_ROLLBACK_FAILED

    def __init__(self, exc: Exception) -> None:
        detail = str(exc).strip().splitlines()
        text = f"{type(exc).__name__}: {detail[0]}" if detail else type(exc).__name__
        super().__init__(
            f"internal error (a bug in ci-deploy): {text}",
            hint=f"rerun with --debug (or {DEBUG_ENV}=1) for the traceback, and report it "
            "with that output",
        )


def _annotate(exc: CiDeployError) -> None:
    """On GitHub, also report the error as an annotation (on the file for config problems)."""
    from ci_deploy.platforms import detect_platform

    platform = detect_platform()
    if platform.name != "github":
        return
    if not isinstance(exc, ConfigError):
        platform.error(exc.message)
        return
    for problem in exc.problems:
        key = f"{problem.key_path}: " if problem.key_path else ""
        extra = f" ({problem.suggestion})" if problem.suggestion else ""
        platform.error(
            f"{key}{problem.message}{extra}",
            file=problem.location.file,
            line=problem.location.line,
            col=problem.location.column,
        )


def _debug_from_env() -> bool:
    """CI_DEPLOY_DEBUG, for errors met before the options were parsed."""
    return os.environ.get(DEBUG_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def _fail(exc: CiDeployError, debug: bool) -> None:
    """Print the error (redacted), its traceback under --debug, and exit with its code."""
    with contextlib.suppress(Exception):  # reporting the error must never hide it
        _annotate(exc)
    from ci_deploy.platforms import redact  # secrets masked during the run stay hidden

    click.echo(redact(exc.render()), err=True)
    if debug:
        import traceback

        shown = exc.__cause__ if isinstance(exc, InternalError) else exc
        text = "".join(traceback.format_exception(shown or exc))
        click.echo(redact(text.rstrip("\n")), err=True)
    sys.exit(exc.exit_code)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI, turning every error into one line and an exit code.

    No traceback is printed unless --debug (or CI_DEPLOY_DEBUG=1) is given. A command's
    ``ctx.exit(code)`` exits with that code here: without standalone mode click returns it
    instead, which ``python -m ci_deploy`` would drop.
    """
    state: dict[str, Any] = {}  # the group's ctx.obj: it records --debug once parsed
    try:
        code = cli.main(args=argv, prog_name="ci-deploy", standalone_mode=False, obj=state)
        if isinstance(code, int) and code:
            sys.exit(code)
    except CiDeployError as exc:
        _fail(exc, state.get("debug", _debug_from_env()))
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(EXIT_BAD_INPUT if exc.exit_code == 2 else exc.exit_code)
    except Exception as exc:  # a bug: one line and exit 3, the traceback only under --debug
        internal = InternalError(exc)
        internal.__cause__ = exc
        _fail(internal, state.get("debug", _debug_from_env()))


if __name__ == "__main__":  # pragma: no cover
    main()
