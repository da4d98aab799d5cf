"""A simulated kubelet on one node: pods go Pending → Running → Ready without running anything.

A pod's status is a pure function of its spec and the time since it was scheduled, so the
reconcile is idempotent: it computes the status for "now", writes it when it differs, and
sets a timer for the next moment it will change. Image tags choose the behaviour
(contracts §3): ``crashloop``, ``pullerror``, ``slow``, ``neverready``, ``degrades`` (Ready, then
unready from 20·d on: a release that passes its rollout and fails later, under traffic);
anything else becomes Ready after ``pod_ready_delay``.

As a real kubelet, it starts no container whose configuration is missing: a Secret or
ConfigMap an env ``valueFrom`` / ``envFrom`` references (unless ``optional: true``) leaves the
container Waiting with reason ``CreateContainerConfigError`` (message ``secret "x" not found``,
event ``Failed``: ``Error: secret "x" not found``); a ``secret`` / ``configMap`` volume leaves
the pod ``ContainerCreating`` with ``FailedMount`` events. The pod is reconciled again when
the object appears (the manager maps Secret and ConfigMap events to the pods referencing them).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timezone

from kube_sandbox.controllers.common import controller_of, parse_time
from kube_sandbox.controllers.context import CONFIGMAPS, PODS, SECRETS, Context, edit
from kube_sandbox.controllers.events import NODE_NAME
from kube_sandbox.storage.store import Obj

HOST_IP = "10.0.0.10"
BEHAVIOURS = ("crashloop", "pullerror", "slow", "neverready", "degrades")
DEGRADES_AFTER = 20  # a ``degrades`` container fails its readiness probe from 20·d on
MAX_BACKOFF_FACTOR = 32  # the real kubelet caps CrashLoopBackOff at 5 minutes


def iso(ts: float) -> str:
    """RFC 3339 (seconds) of an epoch timestamp."""
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def image_behaviour(image: str) -> str:
    """The simulated behaviour an image's tag asks for ("ok" unless a known word is in the tag)."""
    last = image.split("@", 1)[0].rsplit("/", 1)[-1]
    tag = last.split(":", 1)[1] if ":" in last else ""
    words = tag.replace("_", "-").replace(".", "-").split("-")
    return next((b for b in BEHAVIOURS if b in words), "ok")


def image_id(image: str) -> str:
    """A stable fake digest reference for ``image``."""
    repo = image.split("@", 1)[0]
    last = repo.rsplit("/", 1)[-1]
    if ":" in last:
        repo = repo[: len(repo) - len(last)] + last.split(":", 1)[0]
    return f"{repo}@sha256:{hashlib.sha256(image.encode()).hexdigest()}"


@dataclass
class ContainerView:
    """One container's simulated state at a moment."""

    status: Obj
    ready: bool
    started_once: bool
    next_change: float | None  # seconds since pod start of the next change, if any
    events: list[tuple[str, str, str]] = field(default_factory=list)  # (type, reason, message)
    exit_code: int | None = None  # the container terminated (and is not restarted)


def crash_times(delay: float, until: float) -> list[float]:
    """Moments (since pod start) at which a crashloop container exits, up to ``until`` + one."""
    times, t, step = [], delay, 0
    while True:
        times.append(t)
        if t > until:
            return times
        t += delay * min(2**step, MAX_BACKOFF_FACTOR)
        step += 1


def container_view(
    spec: Obj,
    elapsed: float,
    delay: float,
    start: float,
    old: Obj | None,
    pod_name: str,
    config_error: str | None = None,
    *,
    restart_policy: str = "Always",
    completes: bool = False,
) -> ContainerView:
    """The status of container ``spec`` ``elapsed`` seconds after the pod was scheduled.

    ``config_error``: why its configuration cannot be built (a missing Secret / ConfigMap);
    the container then waits in ``CreateContainerConfigError``.
    ``completes``: the container runs to completion (a Job's pod): it exits 0 one ``delay``
    after it became Ready. A crashing container is not restarted under ``restartPolicy: Never``.
    """
    name, image = spec["name"], spec.get("image", "")
    behaviour = image_behaviour(image)
    base: Obj = {"name": name, "image": image, "imageID": "", "restartCount": 0}
    old_reason = ((old or {}).get("state", {}).get("waiting") or {}).get("reason")
    was_running = bool(old and old.get("started"))
    if elapsed < delay:
        waiting = {"waiting": {"reason": "ContainerCreating"}}
        return ContainerView(
            {**base, "ready": False, "started": False, "state": waiting, "lastState": {}},
            False,
            False,
            delay,
        )
    if behaviour == "pullerror":
        return _pull_error(base, elapsed, delay, old_reason)
    if config_error is not None:
        return _config_error(base, config_error, old_reason)
    started_events = [] if was_running or old_reason == "CrashLoopBackOff" else _start_events(spec)
    cid = "containerd://" + hashlib.sha256(f"{pod_name}/{name}".encode()).hexdigest()
    base |= {"imageID": image_id(image), "containerID": cid}
    if behaviour == "crashloop" and restart_policy == "Never":
        return _terminated(base, 1, "Error", start + delay, start + delay, started_events)
    if behaviour == "crashloop":
        return _crash_loop(base, elapsed, delay, start, old, pod_name, started_events)
    ready_at = {"slow": 10 * delay, "neverready": None}.get(behaviour, delay)
    if completes and ready_at is not None and elapsed >= ready_at + delay:
        return _terminated(base, 0, "Completed", start + delay, start + ready_at + delay, [])
    ready = ready_at is not None and elapsed >= ready_at
    if behaviour == "neverready" and not was_running:
        started_events.append(("Warning", "Unhealthy", "Readiness probe failed: HTTP probe failed"))
    degraded_at = DEGRADES_AFTER * delay
    if behaviour == "degrades" and elapsed >= degraded_at:
        ready = False
        if bool(old and old.get("ready")):
            started_events.append(
                ("Warning", "Unhealthy", "Readiness probe failed: HTTP probe failed")
            )
    # a restored pod keeps the moment it was written with (startTime has whole seconds only)
    since = ((old or {}).get("state") or {}).get("running", {}).get("startedAt")
    running = {"running": {"startedAt": since or iso(start + delay)}}
    status = {**base, "ready": ready, "started": True, "state": running, "lastState": {}}
    next_change = ready_at if ready_at is not None and not ready else None
    if behaviour == "degrades" and ready:
        next_change = degraded_at
    if completes and ready_at is not None and ready:
        next_change = ready_at + delay
    return ContainerView(status, ready, True, next_change, started_events)


def _terminated(
    base: Obj,
    exit_code: int,
    reason: str,
    started: float,
    finished: float,
    events: list[tuple[str, str, str]],
) -> ContainerView:
    terminated = {
        "exitCode": exit_code,
        "reason": reason,
        "startedAt": iso(started),
        "finishedAt": iso(finished),
        "containerID": base["containerID"],
    }
    status = {**base, "ready": False, "started": False, "state": {"terminated": terminated}}
    return ContainerView({**status, "lastState": {}}, False, True, None, events, exit_code)


def _start_events(spec: Obj) -> list[tuple[str, str, str]]:
    image, name = spec.get("image", ""), spec["name"]
    return [
        ("Normal", "Pulled", f'Container image "{image}" already present on machine'),
        ("Normal", "Created", f"Created container: {name}"),
        ("Normal", "Started", f"Started container {name}"),
    ]


def _pull_error(base: Obj, elapsed: float, delay: float, old_reason: str | None) -> ContainerView:
    image = base["image"]
    if elapsed < 2 * delay:
        reason = "ErrImagePull"
        message = f'failed to pull and unpack image "{image}": not found'
        events = [
            ("Normal", "Pulling", f'Pulling image "{image}"'),
            ("Warning", "Failed", f'Failed to pull image "{image}": {message}'),
            ("Warning", "Failed", "Error: ErrImagePull"),
        ]
        next_change: float | None = 2 * delay
    else:
        reason, message, next_change = "ImagePullBackOff", f'Back-off pulling image "{image}"', None
        events = [
            ("Normal", "BackOff", message),
            ("Warning", "Failed", "Error: ImagePullBackOff"),
        ]
    state = {"waiting": {"reason": reason, "message": message}}
    status = {**base, "ready": False, "started": False, "state": state, "lastState": {}}
    return ContainerView(status, False, False, next_change, events if old_reason != reason else [])


def _crash_loop(
    base: Obj,
    elapsed: float,
    delay: float,
    start: float,
    old: Obj | None,
    pod_name: str,
    events: list[tuple[str, str, str]],
) -> ContainerView:
    times = crash_times(delay, elapsed)
    crashed = [t for t in times if t <= elapsed]
    restarts = len(crashed)
    last = crashed[-1]
    backoff = int(min(2 ** (restarts - 1), MAX_BACKOFF_FACTOR) * 10)
    message = f"back-off {backoff}s restarting failed container={base['name']} pod={pod_name}"
    state = {"waiting": {"reason": "CrashLoopBackOff", "message": message}}
    last_state = {
        "terminated": {
            "exitCode": 1,
            "reason": "Error",
            "startedAt": iso(start + last),
            "finishedAt": iso(start + last),
            "containerID": base["containerID"],
        }
    }
    if restarts > int((old or {}).get("restartCount") or 0):
        events = [
            *events,
            ("Warning", "BackOff", f"Back-off restarting failed container {base['name']}"),
        ]
    status = {
        **base,
        "restartCount": restarts,
        "ready": False,
        "started": False,
        "state": state,
        "lastState": last_state,
    }
    return ContainerView(status, False, True, times[-1], events)


# -- configuration the containers need ------------------------------------------------------
_KIND_NAMES = {"secret": "Secret", "configmap": "ConfigMap"}


def _env_refs(container: Obj) -> list[tuple[str, str, str | None, bool]]:
    """(kind, name, key or None, optional) of what a container's environment reads."""
    refs: list[tuple[str, str, str | None, bool]] = []
    for source in container.get("envFrom") or []:
        for field_name, kind in (("secretRef", "secret"), ("configMapRef", "configmap")):
            ref = source.get(field_name)
            if isinstance(ref, dict) and ref.get("name"):
                refs.append((kind, ref["name"], None, bool(ref.get("optional"))))
    for env in container.get("env") or []:
        value_from = env.get("valueFrom") or {}
        for field_name, kind in (("secretKeyRef", "secret"), ("configMapKeyRef", "configmap")):
            ref = value_from.get(field_name)
            if isinstance(ref, dict) and ref.get("name"):
                refs.append((kind, ref["name"], ref.get("key"), bool(ref.get("optional"))))
    return refs


def _volume_refs(spec: Obj) -> list[tuple[str, str, str, bool]]:
    """(volume name, kind, object name, optional) of the secret / configMap volumes."""
    refs = []
    for volume in spec.get("volumes") or []:
        secret, config_map = volume.get("secret"), volume.get("configMap")
        if isinstance(secret, dict) and secret.get("secretName"):
            refs.append(
                (volume["name"], "secret", secret["secretName"], bool(secret.get("optional")))
            )
        if isinstance(config_map, dict) and config_map.get("name"):
            refs.append(
                (volume["name"], "configmap", config_map["name"], bool(config_map.get("optional")))
            )
    return refs


def config_references(spec: Obj) -> set[tuple[str, str]]:
    """Every (kind, name) of Secret / ConfigMap a pod spec reads (``secret`` / ``configmap``)."""
    refs = {(kind, name) for _, kind, name, _ in _volume_refs(spec)}
    for container in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
        refs |= {(kind, name) for kind, name, _, _ in _env_refs(container)}
    return refs


def _lookup(ctx: Context, kind: str, namespace: str, name: str) -> Obj | None:
    return ctx.cache.get(SECRETS if kind == "secret" else CONFIGMAPS, namespace, name)


def env_error(ctx: Context, namespace: str, container: Obj) -> str | None:
    """The kubelet's error building a container's environment (None: it can start)."""
    for kind, name, key, optional in _env_refs(container):
        obj = _lookup(ctx, kind, namespace, name)
        if obj is None:
            if optional:
                continue
            return f'{kind} "{name}" not found'
        if key is not None:
            data = {**(obj.get("data") or {}), **(obj.get("stringData") or {})}
            if kind == "configmap":
                data |= obj.get("binaryData") or {}
            if key not in data and not optional:
                return f"couldn't find key {key} in {_KIND_NAMES[kind]} {namespace}/{name}"
    return None


def mount_errors(ctx: Context, namespace: str, spec: Obj) -> list[str]:
    """FailedMount messages for the pod's secret / configMap volumes whose object is missing."""
    return [
        f'MountVolume.SetUp failed for volume "{volume}" : {kind} "{name}" not found'
        for volume, kind, name, optional in _volume_refs(spec)
        if not optional and _lookup(ctx, kind, namespace, name) is None
    ]


def _config_error(base: Obj, message: str, old_reason: str | None) -> ContainerView:
    state = {"waiting": {"reason": "CreateContainerConfigError", "message": message}}
    status = {**base, "ready": False, "started": False, "state": state, "lastState": {}}
    events = (
        []
        if old_reason == "CreateContainerConfigError"
        else [("Warning", "Failed", f"Error: {message}")]
    )
    return ContainerView(status, False, False, None, events)


def qos_class(spec: Obj) -> str:
    """Guaranteed, Burstable or BestEffort from the containers' requests and limits."""
    containers = spec.get("containers") or []
    resources = [c.get("resources") or {} for c in containers]
    if not any(r.get("requests") or r.get("limits") for r in resources):
        return "BestEffort"
    for r in resources:
        limits, requests = r.get("limits") or {}, r.get("requests") or {}
        if set(limits) < {"cpu", "memory"} or any(
            requests.get(k, v) != v for k, v in limits.items()
        ):
            return "Burstable"
    return "Guaranteed"


def _pod_condition(kind: str, ok: bool, old: Obj, now: str, phase: str = "Running") -> Obj:
    status = "True" if ok else "False"
    previous = next((c for c in old.get("conditions") or [] if c.get("type") == kind), None)
    since = previous["lastTransitionTime"] if previous and previous["status"] == status else now
    cond: Obj = {"type": kind, "status": status, "lastProbeTime": None, "lastTransitionTime": since}
    if phase in ("Succeeded", "Failed") and kind in ("Ready", "ContainersReady", "Initialized"):
        cond["reason"] = "PodCompleted" if phase == "Succeeded" else "PodFailed"
    elif not ok and kind in ("Ready", "ContainersReady"):
        cond["reason"] = "ContainersNotReady"
    return cond


class Kubelet:
    """Remembers when each pod was scheduled (by uid) and reconciles pod status."""

    def __init__(self) -> None:
        self.started: dict[str, float] = {}
        self.mount_warned: set[str] = set()  # uids whose FailedMount events were recorded

    def reconcile(self, ctx: Context, namespace: str, name: str) -> None:
        """Bring one pod's status up to date and set the timer for its next change."""
        cached = ctx.cache.get(PODS, namespace, name)
        if cached is None:
            return
        uid = cached["metadata"]["uid"]
        if cached["metadata"].get("deletionTimestamp"):
            return
        if (cached.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            return  # a terminal pod never changes again
        pod = edit(cached, "spec")
        old_status: Obj = pod.get("status") or {}
        now = ctx.now()
        start = self.started.get(uid) or parse_time(old_status.get("startTime")) or now
        self.started[uid] = start
        elapsed = now - start
        new_status, events, next_change = self._status(ctx, pod, old_status, start, elapsed)
        if not pod["spec"].get("nodeName"):
            pod["spec"]["nodeName"] = NODE_NAME
            events.insert(
                0,
                (
                    "Normal",
                    "Scheduled",
                    f"Successfully assigned {namespace}/{name} to {NODE_NAME}",
                ),
            )
        written = cached
        if new_status != old_status or pod["spec"] != cached["spec"]:
            pod["status"] = new_status
            written = ctx.update(PODS, pod)
        for kind, reason, message in events:  # FailedMount comes without a status change
            component = "default-scheduler" if reason == "Scheduled" else "kubelet"
            ctx.record(written, kind, reason, message, component)
        if next_change is not None:
            ctx.schedule(("pod", namespace, name), max(next_change - elapsed, 0.0))

    def forget(self, uid: str) -> None:
        """Drop the memory of a deleted pod."""
        self.started.pop(uid, None)
        self.mount_warned.discard(uid)

    def _status(
        self, ctx: Context, pod: Obj, old: Obj, start: float, elapsed: float
    ) -> tuple[Obj, list[tuple[str, str, str]], float | None]:
        delay, pod_name = ctx.pod_ready_delay, pod["metadata"]["name"]
        namespace = pod["metadata"].get("namespace", "")
        old_by_name = {c["name"]: c for c in old.get("containerStatuses") or []}
        owner = controller_of(pod)
        completes = owner is not None and owner.get("kind") == "Job"
        restart_policy = str(pod["spec"].get("restartPolicy") or "Always")
        mounts = mount_errors(ctx, namespace, pod["spec"]) if elapsed >= delay else []
        # volumes are set up before any container: with one missing, all stay ContainerCreating
        elapsed_for_containers = 0.0 if mounts else elapsed
        views = [
            container_view(
                c,
                elapsed_for_containers,
                delay,
                start,
                old_by_name.get(c["name"]),
                pod_name,
                env_error(ctx, namespace, c),
                restart_policy=restart_policy,
                completes=completes,
            )
            for c in pod["spec"].get("containers") or []
        ]
        uid = pod["metadata"].get("uid", "")
        if mounts:
            for view in views:
                view.next_change = None  # the volume's object appearing triggers the recheck
        mount_events = []
        if mounts and uid not in self.mount_warned:
            self.mount_warned.add(uid)
            mount_events = [("Warning", "FailedMount", m) for m in mounts]
        elif not mounts:
            self.mount_warned.discard(uid)
        now = iso(ctx.now())
        ready = bool(views) and all(v.ready for v in views)
        started = bool(views) and all(v.started_once for v in views)
        phase = "Running" if started else "Pending"
        exits = [v.exit_code for v in views]
        if views and all(code is not None for code in exits):
            phase = "Succeeded" if not any(exits) else "Failed"
        elif restart_policy == "Never" and any(exits):
            phase = "Failed"  # one container failed for good (the others are not simulated)
        ip = old.get("podIP") or ctx.next_pod_ip()
        conditions = [
            _pod_condition(
                "PodReadyToStartContainers", phase not in ("Succeeded", "Failed"), old, now
            ),
            _pod_condition("Initialized", True, old, now, phase),
            _pod_condition("Ready", ready, old, now, phase),
            _pod_condition("ContainersReady", ready, old, now, phase),
            _pod_condition("PodScheduled", True, old, now),
        ]
        status: Obj = {
            "phase": phase,
            "conditions": conditions,
            "hostIP": HOST_IP,
            "hostIPs": [{"ip": HOST_IP}],
            "podIP": ip,
            "podIPs": [{"ip": ip}],
            "startTime": iso(start),
            "containerStatuses": [v.status for v in views],
            "qosClass": qos_class(pod["spec"]),
        }
        init = pod["spec"].get("initContainers") or []
        if init:
            status["initContainerStatuses"] = [_init_done(c, start) for c in init]
        events = [e for v in views for e in v.events] + mount_events
        changes = [v.next_change for v in views if v.next_change is not None]
        return status, events, min(changes) if changes else None


def _init_done(spec: Obj, start: float) -> Obj:
    """Init containers complete at once in the sandbox."""
    image = spec.get("image", "")
    done = {
        "exitCode": 0,
        "reason": "Completed",
        "startedAt": iso(start),
        "finishedAt": iso(start),
    }
    return {
        "name": spec["name"],
        "image": image,
        "imageID": image_id(image),
        "ready": True,
        "started": False,
        "restartCount": 0,
        "state": {"terminated": done},
        "lastState": {},
    }
