"""Runs a plan's steps one by one and records the state in the cluster before each.

The executor is the same for every strategy, for the rollout and for the plans that undo one:
for each step it writes the step into the state record, emits the ``step`` event and calls the
step's ``run``. A step that cannot finish raises ``StepFailed`` with a kind (failed, timeout,
cancelled, lost, api) that the caller turns into a recovery plan, run by this same executor.

Recording is bookkeeping, except where a later run depends on it: the stable template must be
in the record before anything is changed (``record-stable`` fails the rollout if it cannot be
written). Every other write is best effort — a failed one is noted (``record_failures``) and
the outcome still says what the cluster is in; the next run reconciles the record from the
cluster. A record changed by another process always stops the rollout.
"""

from __future__ import annotations

from ci_deploy.kube.errors import ApiError, NetworkError
from ci_deploy.kube.state import StateConflict, StateError, StateRecord
from ci_deploy.rollout.session import RolloutContext, StepFailed
from ci_deploy.rollout.steps import Step


def execute(
    steps: tuple[Step, ...],
    ctx: RolloutContext,
    *,
    title: str = "step",
    record_as: str = "",
    start: int = 1,
) -> StateRecord:
    """Run the steps from number ``start`` on; the record is written before each.

    Raises StepFailed, or RolloutPaused when a manual gate is reached (the gate records it).
    The record's ``step`` reads ``3/5 wait-rollout``, prefixed by ``record_as`` when given (a
    rollback on demand: ``rollback-on-demand 3/5 wait-rollout``, which ``status`` recognises).
    ``start`` continues a plan where an earlier run left it (``promote`` after a pause): the
    numbers stay those of the whole plan.
    """
    prefix = f"{record_as} " if record_as else ""
    total = len(steps)
    for number, step in enumerate(steps, 1):
        if number < start:
            continue
        if ctx.cancel.is_set():
            raise StepFailed("cancelled", ctx.cancel.reason or "cancelled", step.name)
        ctx.progress.line(f"{title} {number}/{total}: {step.name}")
        try:
            ctx.save(step=f"{prefix}{number}/{total} {step.name}")
            ctx.events.emit("step", ctx.record, step=step.name, message=step.describe())
            step.run(ctx)
        except StepFailed as failure:
            failure.step = failure.step or step.name
            failure.number = failure.number or number
            raise
        except StateConflict as exc:
            raise _failed("lost", f"step {step.name}: {exc}", step, number) from exc
        except ApiError as exc:
            if exc.refused_credentials:
                raise _failed("forbidden", exc.credentials_line(), step, number) from exc
            raise _failed("api", f"step {step.name}: {exc}", step, number) from exc
        except (NetworkError, StateError) as exc:
            raise _failed("api", f"step {step.name}: {exc}", step, number) from exc
    return ctx.record


def _failed(kind: str, message: str, step: Step, number: int) -> StepFailed:
    failure = StepFailed(kind, message, step.name)
    failure.number = number
    return failure
