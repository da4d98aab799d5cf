"""The soak at 20 % injected API faults: every outcome honest, every end state correct.

10 seeds × (good, good, crash-looping, good). The longer soak at 20/40/60 % with its outcome
table is ``bench/bench_soak.py``.
"""

from __future__ import annotations

from typing import Any

import pytest
from tests.commands.soak import EXPECTED_CODES, run_seed

SEEDS = [101, 202, 303, 404, 505, 606, 707, 808, 909, 1010]


@pytest.mark.parametrize("seed", SEEDS)
def test_deploys_under_20_percent_faults_end_right_and_say_so(
    engine_factory: Any, seed: int
) -> None:
    engine = engine_factory(seed=seed)
    run = run_seed(engine, seed, level=0.2)
    outcomes = run.outcomes
    assert sum(run.injected.values()) >= 20, f"faults were injected: {run.injected}"
    problems = [f"step {o.number} ({o.tag}): {p}" for o in outcomes for p in o.problems]
    assert not problems, "\n".join(problems)
    assert tuple(o.code for o in outcomes) == EXPECTED_CODES, [
        (o.tag, o.code, o.printed) for o in outcomes
    ]
    assert [o.printed for o in outcomes] == ["Succeeded", "Succeeded", "RolledBack", "Succeeded"]
    assert outcomes[-1].live.endswith(":3.0.0")
    lease = engine.lease()
    assert lease is not None and not lease["spec"].get("holderIdentity"), "lock released"
