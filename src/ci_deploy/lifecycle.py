"""Rollout lifecycle events, from one place: what a job summary, notifiers and analysis hear.

The executor emits ``step`` before every step it runs; the verbs emit ``started`` once the plan
is made and one outcome event when they end (``succeeded``, ``rolled_back``, ``failed``,
``rollback_failed``, ``aborted``, ``paused`` at a manual gate, or ``unchanged`` when there was
nothing to do). Progressive strategies add ``resumed`` (a ``promote`` continues) and ``promoted``
(the stable Deployment got the new version); recovery adds ``rolling_back`` when it starts to
undo a failed run; ``verify`` emits ``verified`` or ``verify_failed`` on the record of what it
checked. A listener subscribes once and hears every verb.

A listener that raises never changes the rollout or its outcome: its error is kept in
``Events.failures`` for the verb to report. Only a listener that says it is required
(``RequiredListenerFailed``) can stop a rollout, and only at ``started``, before any change.

Listeners may leave ids for later jobs (``Events.remember``: the GitHub deployment id, the
Slack message): the rollout's record carries them from its next write on (``status_ids``), so
``promote``, ``abort`` and ``rollback`` post to the same deployment and thread.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

from ci_deploy.errors import NothingChanged, RollbackFailed
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
    "rolling_back",
    "verified",
    "verify_failed",
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


class RequiredListenerFailed(NothingChanged):
    """A listener the configuration marks ``required`` could not do its part (exit 4 when it
    stops a rollout at ``started``: nothing was changed)."""


class Events:
    """The listeners of one verb run, and the ids they left for later jobs."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []
        self.failures: list[str] = []
        self.required_failures: list[str] = []
        self._ids: dict[str, str] = {}  # set by listeners; "" removes an id

    def subscribe(self, listener: Listener) -> None:
        """Hear every event from now on."""
        self._listeners.append(listener)

    def remember(self, key: str, value: str) -> None:
        """Keep ``key`` (``""``: drop it) in the rollout's ``status_ids`` from its next write."""
        self._ids[key] = value

    def status_ids(self, record: StateRecord) -> dict[str, str]:
        """``record``'s ids with what listeners remembered since."""
        merged = {**record.status_ids, **self._ids}
        return {key: value for key, value in merged.items() if value}

    def emit(
        self, kind: EventKind, record: StateRecord, *, step: str = "", message: str = ""
    ) -> None:
        """Tell every listener; one that raises is noted, the others still hear it.

        At ``started`` a required listener's failure is raised once all have heard it: the
        verb stops before it changes anything.
        """
        ids = self.status_ids(record)
        if ids != record.status_ids:
            record = replace(record, status_ids=ids)
        event = RolloutEvent(kind, record, step, message or record.message or "")
        stop: RequiredListenerFailed | None = None
        for listener in self._listeners:
            try:
                listener(event)
            except RequiredListenerFailed as exc:
                self.required_failures.append(str(exc))
                stop = stop or exc
            except Exception as exc:  # a listener's bug or outage is not the rollout's
                self.failures.append(f"{kind} event: {type(exc).__name__}: {exc}")
        if stop is not None and kind == "started":
            raise stop


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
