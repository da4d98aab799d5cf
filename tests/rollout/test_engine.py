"""The generic engine: any step runs through the same executor, and events come from one place."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import pytest

from ci_deploy.errors import DeploymentFailed, RollbackFailed
from ci_deploy.kube.cancel import CancelToken
from ci_deploy.kube.state import StateRecord
from ci_deploy.lifecycle import Events, RolloutEvent, outcome_kind
from ci_deploy.platforms.local import LocalPlatform
from ci_deploy.rollout.executor import execute
from ci_deploy.rollout.progress import Progress
from ci_deploy.rollout.session import RolloutContext, StepFailed
from ci_deploy.rollout.steps import Step


@dataclass(frozen=True)
class Weigh(Step):
    """A step of a strategy module the executor has never heard of (a canary's, say)."""

    weight: int
    seen: list[str]
    name = "weigh"

    def describe(self) -> str:
        return f"set the canary weight to {self.weight}%"

    def run(self, ctx: RolloutContext) -> None:
        self.seen.append(f"{ctx.record.step} at {self.weight}")
        if self.weight > 50:
            raise StepFailed("failed", "too heavy")


def record() -> StateRecord:
    return StateRecord("web", "staging", "canary", "Progressing", "repo/web:2")


def context(events: Events) -> tuple[RolloutContext, io.StringIO]:
    out = io.StringIO()
    ctx = RolloutContext(
        client=None,  # type: ignore[arg-type]  # no Deployment yet: nothing is written
        namespace="web-staging",
        store=None,  # type: ignore[arg-type]
        record=record(),
        progress=Progress(LocalPlatform({}, stream=out), stream=out),
        cancel=CancelToken(),
        events=events,
    )
    return ctx, out


def test_a_strategy_step_runs_without_being_registered_and_is_recorded_before_it_runs() -> None:
    heard: list[RolloutEvent] = []
    events = Events()
    events.subscribe(heard.append)
    ctx, out = context(events)
    seen: list[str] = []
    execute((Weigh(5, seen), Weigh(25, seen)), ctx)
    assert seen == ["1/2 weigh at 5", "2/2 weigh at 25"]
    assert [(e.kind, e.step, e.message) for e in heard] == [
        ("step", "weigh", "set the canary weight to 5%"),
        ("step", "weigh", "set the canary weight to 25%"),
    ]
    assert "step 2/2: weigh" in out.getvalue()


def test_a_failing_step_is_named_in_the_failure() -> None:
    ctx, _ = context(Events())
    with pytest.raises(StepFailed) as failed:
        execute((Weigh(5, []), Weigh(75, [])), ctx)
    assert (failed.value.kind, failed.value.step, failed.value.message) == (
        "failed",
        "weigh",
        "too heavy",
    )


def test_a_listener_that_raises_changes_nothing_for_the_others() -> None:
    heard: list[str] = []
    events = Events()

    def broken(event: RolloutEvent) -> None:
        raise ConnectionError("hooks.slack.example: refused")

    events.subscribe(broken)
    events.subscribe(lambda e: heard.append(e.kind))
    events.emit("started", record())
    assert heard == ["started"]
    assert events.failures == ["started event: ConnectionError: hooks.slack.example: refused"]


@pytest.mark.parametrize(
    ("phase", "error", "unchanged", "kind"),
    [
        ("Succeeded", None, False, "succeeded"),
        ("Succeeded", None, True, "unchanged"),
        ("RolledBack", DeploymentFailed("x"), False, "rolled_back"),
        ("Failed", RollbackFailed("x"), False, "rollback_failed"),
        ("Aborted", DeploymentFailed("x"), False, "aborted"),
        ("Failed", DeploymentFailed("x"), False, "failed"),
        ("Progressing", KeyboardInterrupt(), False, "failed"),
        ("Succeeded", DeploymentFailed("superseded"), False, "failed"),
    ],
)
def test_the_outcome_event_says_what_the_record_and_the_error_say(
    phase: Any, error: BaseException | None, unchanged: bool, kind: str
) -> None:
    assert outcome_kind(record().with_changes(phase=phase), error, unchanged=unchanged) == kind
