"""Teardown: delete everything ci-deploy applied for the app in one environment.

What goes is the app's ApplySet (kube/applyset.py): every member that carries the set's label
*and* whose fields ci-deploy applied (its own field manager, or its traffic router's) — the
rendered objects and what a strategy made (a canary and its Service and Ingress, a blue-green
colour) — then the parent Secret. The rollout record lives on the
app's Deployment, so it goes with it: the next deploy starts a fresh history. Objects another
tool or a person made, hook Jobs, the namespace and the Lease are left.

Nothing is deleted unless ``confirm`` repeats the environment's name: without it the verb says
what it would delete and exits 2. The work runs under the deploy lock, the parent goes last (an
interrupted teardown run again finds the rest still listed), and the end is checked against
the cluster: "torn down" is printed only once no member is left.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from ci_deploy.errors import CiDeployError, UserInputError
from ci_deploy.kube.apply import object_ref
from ci_deploy.kube.applyset import (
    FIELD_MANAGER,
    ApplySet,
    delete_path,
    kind_of_key,
    member_path,
    read_parent,
    stale_members,
)
from ci_deploy.kube.cancel import CancelToken
from ci_deploy.kube.client import KubeClient, Obj
from ci_deploy.kube.errors import ApiError, NetworkError
from ci_deploy.platforms.base import Platform
from ci_deploy.rollout.locking import deploy_lock, namespace_exists
from ci_deploy.rollout.options import DeployOptions, cluster_session, load_environment
from ci_deploy.rollout.progress import Progress
from ci_deploy.rollout.traffic import ROUTER_FIELD_MANAGER

EXIT_TEARDOWN_INCOMPLETE = 3
_SHOWN = 8


class TeardownIncomplete(CiDeployError):
    """Some objects were deleted, not all: exit 3 (run it again: the rest is still listed)."""

    exit_code = EXIT_TEARDOWN_INCOMPLETE


@dataclass(frozen=True)
class TeardownResult:
    deleted: tuple[str, ...]
    summary: str


def members(client: KubeClient, applyset: ApplySet) -> list[Obj] | None:
    """Every live member of ``applyset`` that ci-deploy applied, primary Deployment last;
    None when there is no parent (ci-deploy never applied anything for the app here)."""
    kinds, listed = read_parent(client, applyset)
    if listed is None:
        return None
    kinds |= {kind_of_key(key) for key in listed}
    # a strategy's own objects (the canary's Service and Ingress, a colour's Service) are
    # applied by the traffic router's field manager
    found = stale_members(
        client, applyset, kinds, current=set(), managers=(FIELD_MANAGER, ROUTER_FIELD_MANAGER)
    )
    primary = f"Deployment {applyset.namespace}/{applyset.app}"
    return sorted(found, key=lambda obj: object_ref(obj) == primary)


def count(n: int) -> str:
    """``1 object``, ``3 objects``."""
    return f"{n} object" + ("" if n == 1 else "s")


def listing(refs: list[str]) -> str:
    shown = ", ".join(refs[:_SHOWN])
    return shown + (f" and {len(refs) - _SHOWN} more" if len(refs) > _SHOWN else "")


def teardown(
    opts: DeployOptions, confirm: str | None, platform: Platform, cancel: CancelToken
) -> TeardownResult:
    """Delete what ci-deploy applied for ``opts.environment`` once ``confirm`` names it."""
    cfg, env = load_environment(opts)
    applyset = ApplySet(cfg.app, env.namespace)
    with cluster_session(opts, env.cluster) as client:
        if not namespace_exists(client, env.namespace):
            return TeardownResult((), f"nothing to tear down: namespace {env.namespace} is absent")
        objs = members(client, applyset)
        if objs is None:
            return TeardownResult(
                (),
                f"nothing to tear down: ci-deploy has applied nothing for {cfg.app} in "
                f"namespace {env.namespace}",
            )
        found = [object_ref(obj) for obj in objs]
        if confirm != env.name:
            what = listing(found) if found else "only the ApplySet's parent Secret"
            raise UserInputError(
                f"teardown of {env.name} deletes {count(len(found))} ({what}) and the rollout "
                f"record; nothing was deleted"
                + ("" if confirm is None else f" (--confirm {confirm!r} is not {env.name!r})"),
                hint=f"repeat the environment's name to go on: --confirm {env.name}",
            )
        progress = Progress(platform)
        try:
            with deploy_lock(client, env.namespace, cfg.app, opts, cancel, progress):
                deleted = _delete_all(client, applyset, opts.timeout, progress, cancel)
        finally:
            progress.close()
    shown = listing(list(deleted)) if deleted else "no member was left"
    return TeardownResult(
        deleted,
        f"torn down {env.name}: {count(len(deleted))} deleted ({shown}); the ApplySet and "
        f"the rollout record are gone, none of its members is left in {env.namespace}",
    )


def _delete_all(
    client: KubeClient,
    applyset: ApplySet,
    timeout: float,
    progress: Progress,
    cancel: CancelToken,
) -> tuple[str, ...]:
    """Under the lock: list the members again, delete them, wait until they are gone, then
    delete the parent. Any failure once something is deleted is TeardownIncomplete."""
    deleted: list[str] = []
    try:
        # again: a deploy may have run while we waited for the lock
        paths = {
            object_ref(obj): path
            for obj in members(client, applyset) or []
            if (path := member_path(client, obj)) is not None
        }
        for ref, path in paths.items():
            if cancel.is_set():
                break
            delete_path(client, path)
            deleted.append(ref)
            progress.line(f"deleted {ref}")
        left = _wait_gone(client, paths, timeout, progress, cancel)
        if left or cancel.is_set():
            raise TeardownIncomplete(
                f"teardown stopped with {count(len(left) or len(paths) - len(deleted))} left "
                f"({listing(left) if left else 'cancelled'}) after deleting {len(deleted)}",
                hint="run the teardown again: what is left is still listed in the ApplySet",
            )
        delete_path(client, applyset.parent_path)
    except (ApiError, NetworkError) as exc:
        raise TeardownIncomplete(
            f"teardown stopped after deleting {count(len(deleted))}: {exc}",
            hint="run the teardown again: what is left is still listed in the ApplySet",
        ) from exc
    if members(client, applyset) is not None:  # the parent, or members it lists, are back
        raise TeardownIncomplete(
            "teardown deleted every member it listed, yet the cluster still has members of "
            "the set (a deploy ran meanwhile?)",
            hint="run `ci-deploy status` and the teardown again",
        )
    return tuple(deleted)


def _wait_gone(
    client: KubeClient,
    paths: dict[str, str],
    timeout: float,
    progress: Progress,
    cancel: CancelToken,
) -> list[str]:
    """Wait until every object in ``paths`` (ref -> API path) is gone (finalizers may hold
    one); the refs of what is left."""
    deadline = time.monotonic() + timeout
    told = 0.0
    while True:
        left = [ref for ref, path in paths.items() if client.get_or_none(path) is not None]
        if not left or time.monotonic() >= deadline or cancel.is_set():
            return left
        if time.monotonic() - told >= 10:
            progress.line(f"waiting for {count(len(left))} to go: {listing(left)}")
            told = time.monotonic()
        cancel.wait(0.2)
