"""The deploy lock: one rollout (deploy or rollback) per app and namespace at a time."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from ci_deploy.errors import NothingChanged, UserInputError
from ci_deploy.kube.cancel import CancelToken
from ci_deploy.kube.client import NAMESPACE, KubeClient
from ci_deploy.kube.errors import ApiError, NetworkError
from ci_deploy.kube.lease import LeaseLock, LockCancelled, LockTimeout, current_holder
from ci_deploy.rollout.options import DeployOptions
from ci_deploy.rollout.progress import Progress


def namespace_exists(client: KubeClient, namespace: str) -> bool:
    """True when the namespace exists (a read: changes nothing)."""
    return client.get_or_none(NAMESPACE.path(None, namespace)) is not None


def require_namespace(client: KubeClient, namespace: str, *, may_create: bool) -> bool:
    """Check, before anything is locked or changed, that ``namespace`` exists or may be created.

    Returns True when it is missing and must be created (``create_namespace: true``); a missing
    namespace that may not be created is bad input (exit 2).
    """
    if namespace_exists(client, namespace):
        return False
    if may_create:
        return True
    raise UserInputError(
        f"namespace {namespace} does not exist in the cluster",
        hint="create it (kubectl create namespace NAME), or set `create_namespace: true` for "
        "this environment in the configuration, or pass --namespace",
    )


def ensure_namespace(client: KubeClient, namespace: str, *, attempts: int = 5) -> None:
    """Create the namespace if it is missing (only when the configuration allows it)."""
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
    for _ in range(attempts):
        if namespace_exists(client, namespace):
            return
        try:
            client.request("POST", NAMESPACE.path(None), body=body)
            return
        except ApiError as exc:
            if exc.status != 409:
                raise
            if not exc.is_conflict:
                return  # AlreadyExists: someone created it meanwhile
    raise NothingChanged(f"could not create namespace {namespace}")


@contextmanager
def deploy_lock(
    client: KubeClient,
    namespace: str,
    app: str,
    opts: DeployOptions,
    cancel: CancelToken,
    progress: Progress,
) -> Iterator[LeaseLock]:
    """Hold the Lease ``ci-deploy-<app>`` for the block; LockTimeout → exit 4 naming the holder.

    The namespace must exist (see :func:`require_namespace`, called before anything changes).
    """
    lock = LeaseLock(client, namespace, f"ci-deploy-{app}", current_holder(), ttl=opts.lock_ttl)
    try:
        lock.acquire(opts.lock_timeout, cancelled=cancel, on_wait=progress.line)
    except LockTimeout as exc:
        raise NothingChanged(str(exc), hint="wait for that deploy or cancel it") from exc
    except LockCancelled as exc:
        raise NothingChanged(f"{exc}; nothing was changed") from exc
    lock.start_renewing()
    progress.line(f"lock {namespace}/{lock.name} taken")
    try:
        yield lock
    finally:
        try:
            lock.release()
        except (ApiError, NetworkError) as exc:
            progress.line(f"could not release the lock (it expires in {opts.lock_ttl:.0f}s): {exc}")
