"""Rollout strategies: each turns a target and the observed cluster into steps.

One module per strategy behind the ``Strategy`` protocol; adding one means adding a module and
a line in ``strategy_for``. A progressive strategy (canary, blue-green) records its parameters
in the state record (``record.plan``) when it starts, so that a later job continues from the
cluster alone: ``resume_steps`` rebuilds the very same list of steps from that record (the
executor continues at the step after the recorded one), and ``abort_steps`` makes the plan that
sends all traffic back to the stable version and removes the new one.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from ci_deploy.errors import UserInputError
from ci_deploy.kube.state import StateRecord
from ci_deploy.rollout.plan import Observed, Plan, Target
from ci_deploy.rollout.steps import Step

STRATEGIES = ("rolling", "canary", "blue_green")


class Strategy(Protocol):
    """Config + observed state → steps. Pure: no I/O."""

    name: str

    def validate(self, target: Target) -> None:
        """UserInputError (exit 2) for a target this strategy cannot run; before any change."""
        ...

    def steps(self, target: Target, observed: Observed, previous_image: str | None) -> list[Step]:
        """The steps that take the environment from ``observed`` to ``target``."""
        ...


@runtime_checkable
class ProgressiveStrategy(Strategy, Protocol):
    """A strategy whose rollout can pause between jobs, and be promoted or aborted."""

    def plan(self, target: Target, observed: Observed) -> Plan:
        """The whole plan of a deploy: steps, where to start, every way out."""
        ...

    def resume_steps(self, record: StateRecord, observed: Observed) -> list[Step]:
        """The rollout's steps, rebuilt from ``record.plan`` (the same list ``steps`` made)."""
        ...

    def resume_plan(self, record: StateRecord, observed: Observed, target: Target) -> Plan:
        """``promote``'s plan: those steps, starting after the recorded gate."""
        ...

    def abort_steps(self, record: StateRecord, observed: Observed) -> list[Step]:
        """All traffic to the stable version, the new one removed, the record updated."""
        ...


def strategy_for(name: str) -> Strategy:
    """The strategy called ``name``; UserInputError for one this version cannot run yet."""
    if name == "rolling":
        from ci_deploy.rollout.strategies.rolling import RollingStrategy

        return RollingStrategy()
    if name == "canary":
        from ci_deploy.rollout.strategies.canary import CanaryStrategy

        return CanaryStrategy()
    if name == "blue_green":
        from ci_deploy.rollout.strategies.blue_green import BlueGreenStrategy

        return BlueGreenStrategy()
    raise UserInputError(
        f"strategy {name!r} is not available in this version of ci-deploy yet",
        hint="use `strategy: rolling`, `canary` or `blue_green` for this environment",
    )
