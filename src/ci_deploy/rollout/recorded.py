"""How the state record names the step a rollout is at, and an abort's own steps.

A rollout records ``9/17 pause``. An abort records its own steps with a prefix (``abort 2/5
remove-canary``) and keeps the rollout's step in ``record.plan`` (``abortedAt``), so that an
abort killed mid-run is still read at the rollout's step: a second ``abort`` plans the same undo
(switched back or not, promoted or not), and a deploy finishes the abort first instead of
continuing the rollout from the abort's step number.
"""

from __future__ import annotations

from ci_deploy.kube.state import StateRecord

ABORT_STEP = "abort"  # the prefix of the steps an abort records: "abort 2/5 remove-canary"
ABORTED_AT = "abortedAt"  # in record.plan while an abort runs: the rollout's own step


def aborting(record: StateRecord) -> bool:
    """Whether the record is an abort's, in flight or interrupted (killed mid-run)."""
    return record.step.split(" ", 1)[0] == ABORT_STEP


def rollout_step(record: StateRecord) -> str:
    """The rollout's own step ("9/17 pause"): while an abort runs (or after one was killed),
    the one recorded when it started, not the abort's."""
    if aborting(record):
        return str((record.plan or {}).get(ABORTED_AT) or "")
    return record.step


def recorded_number(record: StateRecord) -> int:
    """The number of the rollout's step the record says ran last ("9/17 pause" → 9; 0: none),
    never an abort's own step number."""
    head = rollout_step(record).split(" ", 1)[0]
    number, _, _ = head.partition("/")
    return int(number) if number.isdigit() else 0
