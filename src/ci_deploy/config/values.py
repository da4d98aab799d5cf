"""Typed scalar values of the configuration: durations, percentages, thresholds, quantities.

Each ``parse_*`` function takes the raw YAML value and returns the typed value or raises
``InvalidValue`` whose message says what was expected and what was found; the schema walker
adds file, line, column and key path. Every typed value prints back in a canonical form
(``canonical``) that parses to an equal value, so ``config show`` round-trips.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

DURATION_FORMS = "a number with a unit: 500ms, 90s, 15m, 2h, 1h30m"
THRESHOLD_FORMS = (
    "an operator (<, <=, >, >=) and a number with optional unit %, ms or s:"
    " '< 0.1%', '<= 500ms', '> 90%', '< 1000'"
)
QUANTITY_FORMS = "a Kubernetes quantity such as 250m, 0.5, 1, 128Mi, 1Gi"


class InvalidValue(ValueError):
    """A value with the wrong shape; ``message`` reads 'expected X, found Y'."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def describe(value: Any) -> str:
    """How a raw YAML value is named in messages: its YAML type and, for scalars, the value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"a boolean ({'true' if value else 'false'})"
    if isinstance(value, int):
        return f"an integer ({value})"
    if isinstance(value, float):
        return f"a number ({value:g})"
    if isinstance(value, str):
        shown = value if len(value) <= 60 else value[:57] + "..."
        return f"a string ({shown!r})" if value else "an empty string"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"a {type(value).__name__}"


def format_number(value: float) -> str:
    """``5.0`` → ``5``, ``0.1`` → ``0.1``: the shortest text that parses back to ``value``."""
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


# --- durations ---------------------------------------------------------------------------

_DURATION_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
# What a duration looks like, also as the GitLab component's `regex:` for its duration inputs
# (RE2 there; ASCII digits only, so both engines agree: tests/pipelines/test_component_inputs.py).
DURATION_PATTERN = r"^([0-9]+(\.[0-9]+)?(ms|h|m|s))+$"
_DURATION_RE = re.compile(DURATION_PATTERN)
_DURATION_PART_RE = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|h|m|s)")


@dataclass(frozen=True)
class Duration:
    """A length of time; ``text`` is what the user wrote and does not take part in equality."""

    seconds: float
    text: str = field(default="", compare=False)

    @property
    def canonical(self) -> str:
        """Largest units first: 5400 s → ``1h30m``; 0.5 s → ``500ms``; 0 → ``0s``."""
        millis = round(self.seconds * 1000)
        if millis == 0:
            return "0s"
        parts = []
        for unit, size in (("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)):
            count, millis = divmod(millis, size)
            if count:
                parts.append(f"{count}{unit}")
        return "".join(parts)

    def __str__(self) -> str:
        return self.text or self.canonical


def parse_duration(value: Any) -> Duration:
    """``"15m"`` → Duration(900.0); bare numbers, negatives and words are rejected."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise InvalidValue(f"expected a duration ({DURATION_FORMS}), found {describe(value)}")
    if isinstance(value, (int, float)):
        raise InvalidValue(
            f"expected a duration ({DURATION_FORMS}), found {describe(value)}: add a unit,"
            f" e.g. '{format_number(value)}s' or '{format_number(value)}m'"
        )
    text = value.strip()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        raise InvalidValue(
            f"expected a duration ({DURATION_FORMS}), found {describe(value)}: add a unit,"
            f" e.g. '{text}s' or '{text}m'"
        )
    if text.startswith("-"):
        raise InvalidValue(
            f"expected a duration that is not negative ({DURATION_FORMS}), found {describe(value)}"
        )
    if not _DURATION_RE.fullmatch(text):
        raise InvalidValue(f"expected a duration ({DURATION_FORMS}), found {describe(value)}")
    seconds = sum(float(n) * _DURATION_UNITS[u] for n, u in _DURATION_PART_RE.findall(text))
    return Duration(seconds=seconds, text=text)


# --- percentages -------------------------------------------------------------------------


def parse_percentage(value: Any, *, allow_zero: bool = True) -> float:
    """A number from 0 to 100 (``5``, ``12.5`` or ``"5%"``); returns the number of percent."""
    number: float
    if isinstance(value, bool):
        raise InvalidValue(f"expected a percentage from 0 to 100, found {describe(value)}")
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str) and re.fullmatch(r"\s*-?\d+(\.\d+)?\s*%?\s*", value):
        number = float(value.strip().rstrip("%"))
    else:
        raise InvalidValue(f"expected a percentage from 0 to 100, found {describe(value)}")
    if math.isnan(number) or number < 0 or number > 100:
        raise InvalidValue(f"expected a percentage from 0 to 100, found {describe(value)}")
    if number == 0 and not allow_zero:
        raise InvalidValue(
            f"expected a percentage above 0 and at most 100, found {describe(value)}"
        )
    return number


# --- thresholds --------------------------------------------------------------------------

_OPERATORS = ("<=", ">=", "<", ">")
_THRESHOLD_RE = re.compile(r"^(<=|>=|<|>)\s*(-?\d+(?:\.\d+)?)\s*(%|ms|s)?$")


@dataclass(frozen=True)
class Threshold:
    """A rule a metric must satisfy, e.g. ``< 0.1%``; ``holds`` takes a value in ``unit``."""

    op: str
    value: float
    unit: str  # "%", "ms", "s" or "" (a plain number)
    text: str = field(default="", compare=False)

    def holds(self, observed: float) -> bool:
        """Whether ``observed`` (in the same unit as ``value``) satisfies the rule."""
        if math.isnan(observed):
            return False  # no data never passes silently; the analysis layer decides policy
        if self.op == "<":
            return observed < self.value
        if self.op == "<=":
            return observed <= self.value
        if self.op == ">":
            return observed > self.value
        return observed >= self.value

    @property
    def canonical(self) -> str:
        """``< 0.1%``: operator, one space, number, unit."""
        return f"{self.op} {format_number(self.value)}{self.unit}"

    def __str__(self) -> str:
        return self.canonical


def parse_threshold(value: Any) -> Threshold:
    """``"< 0.1%"`` → Threshold("<", 0.1, "%"); an operator is required."""
    if not isinstance(value, str):
        raise InvalidValue(f"expected a threshold ({THRESHOLD_FORMS}), found {describe(value)}")
    text = value.strip()
    match = _THRESHOLD_RE.fullmatch(text)
    if match is None:
        if text and text[0] not in "<>":
            raise InvalidValue(
                f"expected a threshold starting with an operator (<, <=, >, >=), found"
                f" {describe(value)}; write e.g. '< {text}'"
            )
        raise InvalidValue(f"expected a threshold ({THRESHOLD_FORMS}), found {describe(value)}")
    op, number, unit = match.group(1), float(match.group(2)), match.group(3) or ""
    if unit == "%" and not 0 <= number <= 100:
        raise InvalidValue(
            f"expected a threshold with a percentage from 0 to 100, found {describe(value)}"
        )
    if unit in ("ms", "s") and number < 0:
        raise InvalidValue(
            f"expected a threshold with a duration that is not negative, found {describe(value)}"
        )
    return Threshold(op=op, value=number, unit=unit, text=text)


# --- Kubernetes quantities ---------------------------------------------------------------

_QUANTITY_RE = re.compile(r"^(\d+(\.\d*)?|\.\d+)([KMGTPE]i|[numkMGTPE]|[eE][+-]?\d+)?$")


def parse_quantity(value: Any) -> str:
    """A Kubernetes resource quantity (``250m``, ``0.5``, ``128Mi``), returned as a string."""
    if isinstance(value, bool):
        raise InvalidValue(f"expected {QUANTITY_FORMS}, found {describe(value)}")
    if isinstance(value, (int, float)) and value >= 0:
        return format_number(float(value))
    if isinstance(value, str) and _QUANTITY_RE.fullmatch(value.strip()):
        return value.strip()
    raise InvalidValue(f"expected {QUANTITY_FORMS}, found {describe(value)}")
