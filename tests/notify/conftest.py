"""Fixtures: the loopback receivers of tests/notify/receivers.py, one per test.

- ``github``: api.github.com for ``octo-org/web-app`` (``github.api_url``, ``github.token``);
  ``github_enterprise``: the same behind GitHub Enterprise Server's ``/api/v3`` prefix.
- ``slack``: an incoming webhook (``slack.webhook_url``) and the Web API (``slack.api_url``,
  ``slack.bot_token``, channel ``#deployments`` = ``C0123456789``).
- ``pagerduty``: the Events API v2 (``pagerduty.events_url``, ``pagerduty.routing_key``).

Each is stopped at teardown, which fails the test if the receiver broke its own contract
(``receiver.problems``: an exception while answering, an answer outside GitHub's spec).
Another configuration: ``with GitHubReceiver(token=..., prefix=...) as github:`` in the test.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TypeVar

import pytest
from tests.notify.receivers import GitHubReceiver, PagerDutyReceiver, Receiver, SlackReceiver

R = TypeVar("R", bound=Receiver)


def _running(receiver: R) -> Iterator[R]:
    with receiver:
        yield receiver
    assert receiver.problems == [], f"the {receiver.service} receiver failed itself"


@pytest.fixture
def github() -> Iterator[GitHubReceiver]:
    yield from _running(GitHubReceiver())


@pytest.fixture
def github_enterprise() -> Iterator[GitHubReceiver]:
    yield from _running(GitHubReceiver(prefix="/api/v3"))


@pytest.fixture
def slack() -> Iterator[SlackReceiver]:
    yield from _running(SlackReceiver())


@pytest.fixture
def pagerduty() -> Iterator[PagerDutyReceiver]:
    yield from _running(PagerDutyReceiver())
