"""``ci-deploy sandbox serve``: run the built-in local Kubernetes API until stopped.

The kubeconfig rules (create and remove; merge only when asked) live in
``kube_sandbox.apiserver.kubeconfig``; docs/sandbox.md describes them."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ci_deploy.errors import UserInputError

if TYPE_CHECKING:
    from kube_sandbox.apiserver.httpd import SandboxServer


@click.group("sandbox")
def command() -> None:
    """Run the built-in local Kubernetes API (for rehearsals and tests)."""


def _share(ctx: click.Context, param: click.Parameter, value: float) -> float:
    if not 0.0 <= value <= 1.0:
        raise click.BadParameter("must be a share between 0 and 1")
    return value


_WHOLE = click.IntRange(0)
_SECONDS = click.FloatRange(0)

# --fault-<flag> -> (the FaultSettings field it sets, default, type, help); type None: a share
# between 0 and 1.
_FAULT_OPTIONS: tuple[tuple[str, str, float | None, Any, str], ...] = (
    ("500", "error_500", 0.0, None, "Share of requests answered 500."),
    ("503", "error_503", 0.0, None, "Share of requests answered 503."),
    ("429", "error_429", 0.0, None, "Share of requests answered 429 (with Retry-After)."),
    ("retry-after", "retry_after", 1, _WHOLE, "Retry-After seconds sent with 429."),
    ("latency", "latency", 0.0, _SECONDS, "Seconds added to requests."),
    ("latency-share", "latency_share", 1.0, None, "Share of requests that get --fault-latency."),
    ("conflict", "conflict_share", 0.0, None, "Share of writes answered 409 Conflict."),
    ("watch-max-events", "watch_max_events", 0, _WHOLE, "Cut watch streams after N events."),
    ("watch-max-seconds", "watch_max_seconds", 0.0, _SECONDS, "Cut watch streams after T seconds."),
    ("seed", "seed", None, click.INT, "Seed of the fault RNG (reproducible runs)."),
)


def _fault_options(func: Callable[..., None]) -> Callable[..., None]:
    """Declare the ``--fault-…`` options; each passes its value as the FaultSettings field."""
    for flag, field, default, kind, help_text in reversed(_FAULT_OPTIONS):
        checks: dict[str, Any] = {"callback": _share} if kind is None else {"type": kind}
        option = click.option(f"--fault-{flag}", field, default=default, help=help_text, **checks)
        func = option(func)
    return func


@command.command("serve")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Loopback address to bind (127.0.0.0/8, ::1, localhost).",
)
@click.option(
    "--port",
    default=0,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port (0: a free one).",
)
@click.option(
    "--kubeconfig",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Kubeconfig to create (context ci-deploy-sandbox; removed on stop). An existing file "
    "is refused unless --merge. [default: $XDG_RUNTIME_DIR, else $XDG_CACHE_HOME, else "
    "~/.cache, + /ci-deploy/sandbox/kubeconfig]",
)
@click.option(
    "--merge",
    is_flag=True,
    help="Add the ci-deploy-sandbox cluster, user and context to an existing --kubeconfig; "
    "they are removed again on stop.",
)
@click.option(
    "--use-context",
    is_flag=True,
    help="With --merge: also make ci-deploy-sandbox the current context (the previous one is "
    "restored on stop).",
)
@click.option(
    "--user",
    "users",
    multiple=True,
    metavar="NAME=ROLE[:NAMESPACE]",
    help="Also make a user with its own token, bound to the built-in ClusterRole ROLE (view, "
    "edit, admin, cluster-admin) in NAMESPACE, or cluster-wide without it; the kubeconfig gets "
    "its context ci-deploy-sandbox-NAME. Repeatable.",
)
@click.option(
    "--cert-user",
    "cert_users",
    multiple=True,
    metavar="NAME=ROLE[:NAMESPACE]",
    help="As --user, but signing in with a client certificate (CN NAME) issued by the "
    "sandbox's CA and written to the kubeconfig. Repeatable.",
)
@click.option(
    "--insecure-http",
    is_flag=True,
    help="Serve plain HTTP without authentication (every client is cluster-admin), as before "
    "TLS was the default; no --user.",
)
@click.option(
    "--state-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Load objects from this file at start (if present) and save them at shutdown.",
)
@click.option(
    "--pod-ready-delay",
    default=0.5,
    show_default=True,
    type=click.FloatRange(0),
    help="Seconds until a simulated pod is Ready.",
)
@click.option(
    "--no-controllers",
    is_flag=True,
    help="Serve the API only (no Deployment/ReplicaSet/kubelet controllers).",
)
@click.option(
    "--no-gateway-api",
    is_flag=True,
    help="Leave out the Gateway API CRDs (HTTPRoute) installed at start by default.",
)
@click.option(
    "--synthetic-prometheus",
    "synthetic_prometheus",
    type=click.IntRange(0, 65535),
    default=None,
    metavar="PORT",
    help="Also serve a SYNTHETIC Prometheus query API (made-up numbers from the pods' image "
    "tags, NOT real metrics) on plain HTTP at 127.0.0.1:PORT (0: a free one), to rehearse a "
    "canary judged on metrics without a Prometheus (docs/sandbox.md).",
)
@_fault_options
@click.option("-v", "--verbose", is_flag=True, help="Log every request.")
def serve(
    host: str,
    port: int,
    kubeconfig: Path | None,
    merge: bool,
    use_context: bool,
    users: tuple[str, ...],
    cert_users: tuple[str, ...],
    insecure_http: bool,
    state_file: Path | None,
    pod_ready_delay: float,
    no_controllers: bool,
    no_gateway_api: bool,
    synthetic_prometheus: int | None,
    verbose: bool,
    **fault_settings: Any,
) -> None:
    """Serve the Kubernetes REST API on loopback until SIGTERM, Ctrl-C or SIGHUP.

    HTTPS with a CA and certificate made at start, and a bearer token (cluster-admin) for
    every request but /version, /healthz, /livez and /readyz (401 without it, 403 for what a
    --user's role does not allow). The kubeconfig carries the CA and the tokens.

    Writes a kubeconfig it creates (removed on stop); an existing one only with --merge (the
    entries it added are removed on stop, the current context restored).
    """
    from kube_sandbox.apiserver import tls
    from kube_sandbox.apiserver.auth import parse_user
    from kube_sandbox.apiserver.kubeconfig import NAME, default_kubeconfig
    from kube_sandbox.faults import Faults, FaultSettings

    if use_context and not merge:
        raise click.UsageError(
            f"--use-context needs --merge (a kubeconfig the sandbox creates uses {NAME} always)"
        )
    if (users or cert_users) and insecure_http:
        raise click.UsageError("--user needs TLS: plain HTTP (--insecure-http) has no users")
    try:
        bound = tuple(parse_user(spec) for spec in users)
        bound += tuple(parse_user(spec, certificate=True) for spec in cert_users)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--user/--cert-user") from exc
    if len({u.name for u in bound}) != len(bound):
        raise click.BadParameter("each NAME once", param_hint="--user/--cert-user")
    if not insecure_http and not tls.available():
        raise UserInputError(tls.MISSING)
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    server = _start(
        host,
        port,
        kubeconfig=kubeconfig or default_kubeconfig(),
        merge_kubeconfig=merge,
        use_context=use_context,
        state_file=state_file,
        pod_ready_delay=pod_ready_delay,
        faults=Faults(FaultSettings(**fault_settings)),
        controllers=not no_controllers,
        gateway_api=not no_gateway_api,
        tls=not insecure_http,
        users=bound,
        synthetic_prometheus=synthetic_prometheus,
    )
    _serve_until_signalled(server, merged=merge and not use_context)


def _start(host: str, port: int, **options: Any) -> SandboxServer:
    """A SandboxServer (not started yet); what keeps it from starting is bad input (exit 2)."""
    from kube_sandbox.apiserver.access import NotLoopback
    from kube_sandbox.apiserver.httpd import SandboxServer, SyntheticPrometheusPortError
    from kube_sandbox.apiserver.kubeconfig import KubeconfigError

    try:
        return SandboxServer(host, port, **options)
    except NotLoopback as exc:  # before ValueError, which it is
        raise UserInputError(
            f"--host {exc}",
            hint="keep the default --host 127.0.0.1; to reach it from another machine, forward "
            "a port to it (ssh -L 8001:127.0.0.1:8001)",
        ) from exc
    except KubeconfigError as exc:
        raise UserInputError(exc.message, hint=exc.hint) from exc
    except SyntheticPrometheusPortError as exc:  # before OSError, which it is
        raise UserInputError(
            f"cannot serve the synthetic Prometheus on 127.0.0.1:{exc.port}: {exc.strerror}",
            hint="choose another --synthetic-prometheus PORT (0 picks a free one)",
        ) from exc
    except OSError as exc:
        raise UserInputError(
            f"cannot serve on {host}:{port}: {exc.strerror or exc}",
            hint="choose another --port (0 picks a free one)",
        ) from exc
    except ValueError as exc:  # an unreadable state file
        raise UserInputError(f"cannot load --state-file {options['state_file']}: {exc}") from exc


def _serve_until_signalled(server: SandboxServer, *, merged: bool) -> None:
    from kube_sandbox.apiserver.kubeconfig import NAME

    stop = threading.Event()

    def _on_signal(signum: int, frame: Any) -> None:
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, _on_signal)
    server.start()
    try:
        click.echo(
            f"ci-deploy sandbox: serving {server.url} "
            f"(kubeconfig: {server.kubeconfig}, context ci-deploy-sandbox)"
        )
        if server.synthetic_prometheus_url is not None:
            click.echo(
                "ci-deploy sandbox: synthetic Prometheus (not real metrics) at "
                f"{server.synthetic_prometheus_url}"
            )
        if server.ca is not None:
            click.echo(
                "ci-deploy sandbox: TLS with a CA made now, in the kubeconfig with the "
                "cluster-admin token"
            )
        else:
            click.echo(
                "ci-deploy sandbox: plain HTTP without authentication (--insecure-http): "
                "every local client is cluster-admin"
            )
        for user in server.users[1:]:  # the tokens are in the kubeconfig (0600), never printed
            how = ", client certificate" if user.certificate else ""
            click.echo(
                f"ci-deploy sandbox: user {user.name} ({user.binding}{how}): "
                f"context {NAME}-{user.name}"
            )
        click.echo(
            f"ci-deploy sandbox: admin token in {server.admin_token_file} "
            "(for /_sandbox/: 'Authorization: Bearer <token>')"
        )
        if merged:
            click.echo(
                "ci-deploy sandbox: the current context is unchanged; "
                "use --context ci-deploy-sandbox (kubectl, ci-deploy)"
            )
        sys.stdout.flush()
        while not stop.wait(timeout=3600):
            pass
    finally:  # also when printing fails (a closed pipe): the kubeconfig entries go
        server.stop()
    done = [f"state saved to {server.state_file}"] if server.state_file else []
    done += [server.kubeconfig_removed] if server.kubeconfig_removed else []
    click.echo("ci-deploy sandbox: stopped" + "".join(f", {item}" for item in done))
