"""``ci-deploy sandbox serve``: run the built-in local Kubernetes API until stopped."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import click

from ci_deploy.errors import UserInputError

DEFAULT_KUBECONFIG = Path(".ci-deploy") / "sandbox" / "kubeconfig"


@click.group("sandbox")
def command() -> None:
    """Run the built-in local Kubernetes API (for rehearsals and tests)."""


def _share(ctx: click.Context, param: click.Parameter, value: float) -> float:
    if not 0.0 <= value <= 1.0:
        raise click.BadParameter("must be a share between 0 and 1")
    return value


@command.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
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
    default=DEFAULT_KUBECONFIG,
    show_default=True,
    help="Kubeconfig to write (merged into when it exists; context ci-deploy-sandbox).",
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
@click.option("--fault-500", default=0.0, callback=_share, help="Share of requests answered 500.")
@click.option("--fault-503", default=0.0, callback=_share, help="Share of requests answered 503.")
@click.option(
    "--fault-429",
    default=0.0,
    callback=_share,
    help="Share of requests answered 429 (with Retry-After).",
)
@click.option(
    "--fault-retry-after",
    default=1,
    type=click.IntRange(0),
    help="Retry-After seconds sent with 429.",
)
@click.option(
    "--fault-latency", default=0.0, type=click.FloatRange(0), help="Seconds added to requests."
)
@click.option(
    "--fault-latency-share",
    default=1.0,
    callback=_share,
    help="Share of requests that get --fault-latency.",
)
@click.option(
    "--fault-conflict", default=0.0, callback=_share, help="Share of writes answered 409 Conflict."
)
@click.option(
    "--fault-watch-max-events",
    default=0,
    type=click.IntRange(0),
    help="Cut watch streams after N events.",
)
@click.option(
    "--fault-watch-max-seconds",
    default=0.0,
    type=click.FloatRange(0),
    help="Cut watch streams after T seconds.",
)
@click.option(
    "--fault-seed", default=None, type=int, help="Seed of the fault RNG (reproducible runs)."
)
@click.option("-v", "--verbose", is_flag=True, help="Log every request.")
def serve(**options: Any) -> None:
    """Serve the Kubernetes REST API on loopback until SIGTERM or Ctrl-C."""
    from ci_deploy.sandbox.faults import Faults, FaultSettings
    from ci_deploy.sandbox.server import SandboxServer

    logging.basicConfig(
        level=logging.DEBUG if options["verbose"] else logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    settings = FaultSettings(
        error_500=options["fault_500"],
        error_503=options["fault_503"],
        error_429=options["fault_429"],
        retry_after=options["fault_retry_after"],
        latency=options["fault_latency"],
        latency_share=options["fault_latency_share"],
        conflict_share=options["fault_conflict"],
        watch_max_events=options["fault_watch_max_events"],
        watch_max_seconds=options["fault_watch_max_seconds"],
        seed=options["fault_seed"],
    )
    try:
        server = SandboxServer(
            options["host"],
            options["port"],
            kubeconfig=options["kubeconfig"],
            state_file=options["state_file"],
            pod_ready_delay=options["pod_ready_delay"],
            faults=Faults(settings),
            controllers=not options["no_controllers"],
        )
    except OSError as exc:
        raise UserInputError(
            f"cannot serve on {options['host']}:{options['port']}: {exc.strerror or exc}",
            hint="choose another --port (0 picks a free one)",
        ) from exc
    except ValueError as exc:  # an unreadable state file
        raise UserInputError(f"cannot load --state-file {options['state_file']}: {exc}") from exc
    stop = threading.Event()

    def _on_signal(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    server.start()
    click.echo(
        f"ci-deploy sandbox: serving {server.url} "
        f"(kubeconfig: {server.kubeconfig}, context ci-deploy-sandbox)"
    )
    sys.stdout.flush()
    while not stop.wait(timeout=3600):
        pass
    server.stop()
    saved = f", state saved to {options['state_file']}" if options["state_file"] else ""
    click.echo(f"ci-deploy sandbox: stopped{saved}")
