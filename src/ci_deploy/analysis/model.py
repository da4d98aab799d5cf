"""What providers observe (``Measurement``) and what the judges conclude (``Verdict``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol, TypeVar

Result = Literal["pass", "fail", "inconclusive"]
NoDataPolicy = Literal["fail", "pass", "inconclusive"]
NO_DATA_POLICIES: tuple[NoDataPolicy, ...] = ("fail", "pass", "inconclusive")


@dataclass(frozen=True)
class Measurement:
    """One observation of one check.

    ``value``: the number a rule compares (a metric, a latency in ms, an exit code); None when
    there was no data (an empty result, NaN, no response). ``error``: the provider could not
    observe at all, after its retries (unreachable, bad query, timeout) — why, in one line.
    ``passed``: for checks that judge themselves (an HTTP status, a test command's exit
    code); None for metrics, which a rule judges. ``detail``: what a reader needs beyond the
    value (failed test names, the body that did not match), a few short lines.
    """

    value: float | None
    samples: int = 0  # series, requests or tests behind the value
    error: str = ""
    passed: bool | None = None
    detail: tuple[str, ...] = ()

    @property
    def usable(self) -> bool:
        """A value a rule can judge (not an error, not no data)."""
        return not self.error and self.value is not None


@dataclass(frozen=True)
class Verdict:
    """A check's result and everything needed to explain it.

    ``check``: what was judged ("error_rate (canary)", "http health");
    ``query``: the rendered PromQL, URL or command line; ``observed``: the value as text
    ("0.34%", "no data", "error: connection refused"); ``rule``: "< 0.1%" (or "exit 0");
    ``reason``: one line saying why the result is what it is.
    """

    check: str
    query: str
    observed: str
    rule: str
    result: Result
    samples: int = 0
    reason: str = ""
    value: float | None = None
    detail: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "check": self.check,
            "query": self.query,
            "observed": self.observed,
            "rule": self.rule,
            "result": self.result,
            "samples": self.samples,
            "reason": self.reason,
        }
        if self.value is not None:
            out["value"] = self.value
        if self.detail:
            out["detail"] = list(self.detail)
        return out


P_contra = TypeVar("P_contra", contravariant=True)


class Provider(Protocol[P_contra]):
    """Where observations come from: one module per provider (prometheus, http, command).

    ``measure`` never raises for what the observed system does (a 500, a refused
    connection, a failing test): that is a ``Measurement`` with ``error`` or ``passed``
    set. It raises only for a bug of ours.
    """

    name: str

    def measure(self, probe: P_contra) -> Measurement:
        """Observe ``probe`` (a provider's own description of what to observe) once."""
        ...
