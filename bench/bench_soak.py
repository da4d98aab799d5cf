"""Soak: seeded deploy sequences under 20 %, 40 % and 60 % injected API faults, outcomes tabled.

    .venv/bin/python bench/bench_soak.py [--seeds 10] [--levels 0.2,0.4,0.6]

Each seed runs good / good / crash-looping / good deploys of the web-app example (the real CLI,
one subprocess per deploy) against a fresh sandbox whose API answers the given share of
requests with 500 / 503 / 429 / 409 and cuts every watch after 3 events. After each deploy the
cluster is read without faults and the outcome judged (tests/commands/soak.py): the exit code,
the printed phase and the recorded phase must match what the cluster holds. Goal: 100 % honest
outcomes at every level, and the expected end states where the API answers at all.
Prints one row per level, then every outcome that was dishonest or not the expected exit code,
with what it told the user.
"""

from __future__ import annotations

import argparse
import collections
import logging
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.commands.conftest import Engine, make_config  # noqa: E402
from tests.commands.soak import EXPECTED_CODES, Outcome, run_seed  # noqa: E402

from ci_deploy.kube.client import connect  # noqa: E402
from kube_sandbox.testing import running_sandbox  # noqa: E402


def soak(level: float, seeds: int) -> tuple[list[Outcome], int, float]:
    """All outcomes at ``level``, the faults injected, and the wall time."""
    outcomes: list[Outcome] = []
    injected = 0
    started = time.monotonic()
    for seed in range(1, seeds + 1):
        with tempfile.TemporaryDirectory() as tmp, running_sandbox(Path(tmp), seed=seed) as sb:
            client = connect(str(sb.kubeconfig))
            try:
                engine = Engine(sb, Path(tmp), make_config(Path(tmp)), client)
                run = run_seed(engine, seed * 1000 + int(level * 100), level)
            finally:
                client.close()
        outcomes += run.outcomes
        injected += sum(run.injected.values())
    return outcomes, injected, time.monotonic() - started


def row(level: float, outcomes: list[Outcome], injected: int, seconds: float) -> str:
    honest = sum(1 for o in outcomes if not o.problems)
    expected = sum(1 for o in outcomes if o.code == EXPECTED_CODES[o.number - 1])
    codes = collections.Counter(o.code for o in outcomes)
    shown = " ".join(f"{code}:{n}" for code, n in sorted(codes.items()))
    longest = max(o.seconds for o in outcomes)
    return (
        f"| {level:.0%} | {len(outcomes)} | {honest / len(outcomes):.0%} | "
        f"{expected / len(outcomes):.0%} | {shown} | {longest:.1f} | {injected} | {seconds:.0f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--levels", default="0.2,0.4,0.6")
    args = parser.parse_args()
    logging.getLogger("kube_sandbox.faults").setLevel(logging.ERROR)  # one line per fault
    print(
        "| faults | deploys | honest outcome | expected exit code | exit codes | longest (s) "
        "| faults injected | wall (s) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    bad: list[Outcome] = []
    for level in (float(x) for x in args.levels.split(",")):
        outcomes, injected, seconds = soak(level, args.seeds)
        print(row(level, outcomes, injected, seconds), flush=True)
        bad += [o for o in outcomes if o.problems or o.code != EXPECTED_CODES[o.number - 1]]
    for o in bad:
        verdict = "DISHONEST" if o.problems else "honest, not the expected exit code"
        print(
            f"\n{verdict}: seed {o.seed} step {o.number} ({o.tag}) exit {o.code} printed "
            f"{o.printed} recorded {o.recorded} live {o.live}"
        )
        for problem in o.problems:
            print(f"  - {problem}")
        print(f"  said: {o.said}")


if __name__ == "__main__":
    main()
