"""The deploy lock: one rollout (deploy or rollback) per app and namespace at a time."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from ci_deploy.errors import DeploymentFailed
from ci_deploy.kube.cancel import CancelToken
from ci_deploy.kube.client import NAMESPACE, KubeClient
from ci_deploy.kube.errors import ApiError, NetworkError
from ci_deploy.kube.lease import LeaseLock, LockCancelled, LockTimeout, current_holder
from ci_deploy.rollout.options import DeployOptions
from ci_deploy.rollout.progress import Progress


def ensure_namespace(client: KubeClient, namespace: str, *, attempts: int = 5) -> None:
    """Create the namespace if it is missing (the lock lives in it)."""
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
    for _ in range(attempts):
        if client.get_or_none(NAMESPACE.path(None, namespace)) is not None:
            return
        try:
            client.request("POST", NAMESPACE.path(None), body=body)
            return
        except ApiError as exc:
            if exc.status != 409:
                raise
            if not exc.is_conflict:
                return  # AlreadyExists: someone created it meanwhile
    raise DeploymentFailed(f"could not create namespace {namespace}")


@contextmanager
def deploy_lock(
    client: KubeClient,
    namespace: str,
    app: str,
    opts: DeployOptions,
    cancel: CancelToken,
    progress: Progress,
) -> Iterator[LeaseLock]:
    """Hold the Lease ``ci-deploy-<app>`` for the block; LockTimeout → exit 1 naming the holder."""
    ensure_namespace(client, namespace)
    lock = LeaseLock(client, namespace, f"ci-deploy-{app}", current_holder(), ttl=opts.lock_ttl)
    try:
        lock.acquire(opts.lock_timeout, cancelled=cancel, on_wait=progress.line)
    except LockTimeout as exc:
        raise DeploymentFailed(str(exc), hint="wait for that deploy or cancel it") from exc
    except LockCancelled as exc:
        raise DeploymentFailed(str(exc)) from exc
    lock.start_renewing()
    progress.line(f"lock {namespace}/{lock.name} taken")
    try:
        yield lock
    finally:
        try:
            lock.release()
        except (ApiError, NetworkError) as exc:
            progress.line(f"could not release the lock (it expires in {opts.lock_ttl:.0f}s): {exc}")
