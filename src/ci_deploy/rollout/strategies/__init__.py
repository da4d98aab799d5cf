"""Rollout strategies: each turns a target and the observed cluster into steps.

One module per strategy behind the ``Strategy`` protocol; adding one means adding a module and
a line in ``strategy_for``.
"""

from __future__ import annotations

from typing import Protocol

from ci_deploy.errors import UserInputError
from ci_deploy.rollout.plan import Observed, Target
from ci_deploy.rollout.steps import Step


class Strategy(Protocol):
    """Config + observed state → steps. Pure: no I/O."""

    name: str

    def steps(self, target: Target, observed: Observed, previous_image: str | None) -> list[Step]:
        """The steps that take the environment from ``observed`` to ``target``."""
        ...


def strategy_for(name: str) -> Strategy:
    """The strategy called ``name``; UserInputError for one this version cannot run yet."""
    if name == "rolling":
        from ci_deploy.rollout.strategies.rolling import RollingStrategy

        return RollingStrategy()
    raise UserInputError(
        f"strategy {name!r} is not available in this version of ci-deploy yet",
        hint="use `strategy: rolling` for this environment for now",
    )
