"""Rollout lifecycle events, from one place: what a job summary, notifiers and analysis hear.

The executor emits ``step`` before every step it runs; the verbs emit ``started`` once the plan
is made and one outcome event when they end (``succeeded``, ``rolled_back``, ``failed``,
``rollback_failed``, ``aborted``, ``paused`` at a manual gate, or ``unchanged`` when there was
nothing to do). Progressive strategies add ``resumed`` (a ``promote`` continues) and ``promoted``
(the stable Deployment got the new version). A listener subscribes once and hears
every verb.

A listener that raises never changes the rollout or its outcome: its error is kept in
``Events.failures`` for the verb to report.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from ci_deploy.errors import RollbackFailed
from ci_deploy.kube.state import StateRecord

EventKind = Literal[
    "started",
    "step",
    "paused",
    "resumed",
    "promoted",
    "succeeded",
    "failed",
    "aborted",
    "rolled_back",
    "rollback_failed",
    "unchanged",
]
OUTCOMES: frozenset[str] = frozenset(
    {"succeeded", "paused", "failed", "aborted", "rolled_back", "rollback_failed", "unchanged"}
)


@dataclass(frozen=True)
class RolloutEvent:
    """One moment of a rollout: the record as it is then, and the step it concerns."""

    kind: EventKind
    record: StateRecord
    step: str = ""  # the step's name (step events)
    message: str = ""


Listener = Callable[[RolloutEvent], None]


class Events:
    """The listeners of one verb run."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []
        self.failures: list[str] = []

    def subscribe(self, listener: Listener) -> None:
        """Hear every event from now on."""
        self._listeners.append(listener)

    def emit(
        self, kind: EventKind, record: StateRecord, *, step: str = "", message: str = ""
    ) -> None:
        """Tell every listener; one that raises is noted, the others still hear it."""
        event = RolloutEvent(kind, record, step, message or record.message or "")
        for listener in self._listeners:
            try:
                listener(event)
            except Exception as exc:  # a listener's bug or outage is not the rollout's
                self.failures.append(f"{kind} event: {type(exc).__name__}: {exc}")


def outcome_kind(
    record: StateRecord, error: BaseException | None, *, unchanged: bool = False
) -> EventKind:
    """The outcome event for a verb that ended with ``record`` (and ``error``, if it raised)."""
    if unchanged:
        return "unchanged"
    if isinstance(error, RollbackFailed):
        return "rollback_failed"
    phase = record.phase
    if phase == "Succeeded" and error is None:
        return "succeeded"
    if phase == "Paused" and error is None:
        return "paused"
    if phase == "RolledBack":
        return "rolled_back"
    if phase == "Aborted":
        return "aborted"
    return "failed"  # Failed, or still Progressing: the verb stopped before an outcome
