"""A bounded soak: seeded deploys under injected API faults, each outcome checked on the cluster.

Used by ``test_soak.py`` (20 % faults, in the suite) and ``bench/bench_soak.py`` (20/40/60 %,
an outcome table). Each step runs the real CLI; afterwards the cluster is read from the
sandbox's store directly (no faults on that path) and the step's exit code, printed phase
(the job output) and recorded phase are checked against it:

- exit 0: the wanted image is the Deployment's and every Ready pod runs it; printed Succeeded;
- exit 1: the stable image from before is the Deployment's and every Ready pod runs it; printed
  RolledBack (or nothing of the app is left after a first deploy);
- exit 4: the Deployment's spec is exactly as before the step;
- exit 3: allowed only with "a human must act" in the message (counted, not excused);
- never exit 2 (the input is good), never a traceback, never a record left Progressing without
  the printed note that it could not be written, never longer than the retry budget.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from ci_deploy.kube.state import record_of
from kube_sandbox.storage.store import StoreError

IMAGE = "registry.example.com/acme/web-app"
NAMESPACE = "web-app-staging"
SEQUENCE = ("1.0.0", "2.0.0", "crashloop", "3.0.0")  # good, good, crash-looping, good
EXPECTED_CODES = (0, 0, 1, 0)
STEP_BUDGET = 150.0  # seconds: well above one retry budget (60 s) plus the rollout itself
RECORD_NOTE = "state record could not be written"


def fault_settings(level: float, seed: int) -> dict[str, Any]:
    """``level`` of the requests fail: 500, 503, 429 (Retry-After 1 s) or 409; watches cut."""
    return {
        "error_500": 0.4 * level,
        "error_503": 0.35 * level,
        "error_429": 0.05 * level,
        "conflict_share": 0.2 * level,
        "watch_max_events": 3,
        "seed": seed,
    }


@dataclass
class Truth:
    """The cluster after a step, read without faults."""

    spec: dict[str, Any] | None  # the Deployment's spec (None: no Deployment)
    live: str | None
    serving: set[str]
    recorded: str | None


@dataclass
class Outcome:
    """One step of one seed, and what was wrong with it (empty: honest and correct)."""

    seed: int
    number: int
    tag: str
    code: int
    printed: str
    recorded: str
    live: str
    seconds: float
    problems: list[str] = field(default_factory=list)
    said: str = ""  # the last lines of stderr: what it told the user


def truth(store: Any) -> Truth:
    """The app's Deployment, the images its Ready pods run, and the recorded phase."""
    try:
        deployment = store.get("apps/deployments", NAMESPACE, "web-app")
    except StoreError:
        return Truth(None, None, set(), None)
    pods, _ = store.list("/pods", NAMESPACE)
    serving = set()
    for pod in pods:
        ready = any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in (pod.get("status") or {}).get("conditions") or []
        )
        if ready and not pod["metadata"].get("deletionTimestamp"):
            serving.add(pod["spec"]["containers"][0]["image"])
    record = record_of(deployment)
    live = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    return Truth(deployment["spec"], live, serving, record.phase if record else None)


def _settled(store: Any, image: str | None, seconds: float = 10.0) -> Truth:
    """The truth once pods that are going away have gone (bounded)."""
    deadline = time.monotonic() + seconds
    seen = truth(store)
    while time.monotonic() < deadline and image is not None and seen.serving != {image}:
        time.sleep(0.05)
        seen = truth(store)
    return seen


def judge(
    code: int,
    printed: str,
    stderr: str,
    before: Truth,
    after: Truth,
    wanted: str,
    stable: str | None,
) -> list[str]:
    """What is untrue or wrong about one step's outcome (pure)."""
    problems = []
    if "Traceback" in stderr:
        problems.append("a traceback was printed")
    if after.recorded == "Progressing" and RECORD_NOTE not in stderr:
        problems.append("the record says Progressing after the process ended, with no note")
    unchanged = code == 4 and after.recorded == before.recorded  # nothing was written either
    if after.recorded not in (None, printed, "Progressing") and printed != "-" and not unchanged:
        problems.append(f"printed {printed} but the record says {after.recorded}")
    if code == 0:
        if printed != "Succeeded":
            problems.append(f"exit 0 but printed {printed}")
        if after.live != wanted or after.serving != {wanted}:
            problems.append(f"exit 0 but live {after.live}, serving {sorted(after.serving)}")
    elif code == 1:
        if stable is None:
            if after.spec is not None:
                problems.append("exit 1 after a first deploy, but its Deployment is still there")
        elif after.live != stable or after.serving != {stable}:
            problems.append(
                f"exit 1 (restored) but live {after.live}, serving {sorted(after.serving)}, "
                f"stable was {stable}"
            )
        if printed not in ("RolledBack", "-"):
            problems.append(f"exit 1 but printed {printed}")
    elif code == 4:
        if after.spec != before.spec:
            problems.append("exit 4 (nothing changed) but the Deployment's spec changed")
    elif code == 3:
        if "a human must act" not in stderr:
            problems.append("exit 3 without saying what a human must look at")
    else:
        problems.append(f"exit {code}")
    return problems


@dataclass
class SeedRun:
    """The outcomes of one seed and the faults the sandbox injected meanwhile."""

    outcomes: list[Outcome]
    injected: dict[str, int]


def run_seed(engine: Any, seed: int, level: float) -> SeedRun:
    """The sequence under ``level`` faults: one Outcome per deploy."""
    engine.sb.faults.set(**fault_settings(level, seed))
    outcomes: list[Outcome] = []
    injected: dict[str, int] = {}
    stable: str | None = None
    try:
        for number, tag in enumerate(SEQUENCE, 1):
            wanted = f"{IMAGE}:{tag}"
            before = truth(engine.sb.store)
            started = time.monotonic()
            result = engine.run(
                "deploy",
                "--env",
                "staging",
                "--image",
                wanted,
                "--lock-timeout",
                "60s",
                timeout=STEP_BUDGET + 30,
            )
            took = time.monotonic() - started
            printed = result.outputs.get("phase", "-")
            expect = wanted if result.returncode == 0 else stable
            after = _settled(engine.sb.store, expect)
            problems = judge(
                result.returncode, printed, result.stderr, before, after, wanted, stable
            )
            if took > STEP_BUDGET:
                problems.append(f"took {took:.0f}s, longer than the {STEP_BUDGET:.0f}s budget")
            said = " | ".join(result.stderr.splitlines()[-3:])
            outcomes.append(
                Outcome(
                    seed,
                    number,
                    tag,
                    result.returncode,
                    printed,
                    after.recorded or "-",
                    after.live or "-",
                    took,
                    problems,
                    said,
                )
            )
            if result.returncode == 0:
                stable = wanted
    finally:
        injected = dict(engine.sb.faults.describe()["counts"])
        engine.sb.faults.reset()
    return SeedRun(outcomes, injected)
