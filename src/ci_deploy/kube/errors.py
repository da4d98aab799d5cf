"""Errors of the Kubernetes layer, independent of the client library's exception types.

The ``kubernetes`` client raises its own untyped exceptions; ``kube.client`` turns them into
these two classes so that the retry helper and the rollout engine stay typed.
"""

from __future__ import annotations


class ApiError(Exception):
    """The API server answered with an error status (``status`` 4xx/5xx)."""

    def __init__(
        self,
        status: int,
        reason: str,
        message: str,
        *,
        retry_after: float | None = None,
        what: str = "",
    ) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason  # Kubernetes Status.reason: NotFound, Conflict, AlreadyExists, ...
        self.message = message  # the API's own message, shown to the user as is
        self.retry_after = retry_after  # seconds, from a Retry-After header
        self.what = what  # e.g. "PATCH apps/v1 deployments web-app"

    @property
    def is_conflict(self) -> bool:
        """An optimistic-concurrency conflict (stale resourceVersion), not AlreadyExists."""
        return self.status == 409 and self.reason != "AlreadyExists"

    def __str__(self) -> str:
        where = f"{self.what}: " if self.what else ""
        return f"{where}{self.status} {self.reason}: {self.message}"


class NetworkError(Exception):
    """The request did not get an HTTP answer: refused, reset, timed out, TLS, DNS, stream cut.

    ``transient`` is False for failures that an identical request would meet again (a
    certificate the kubeconfig does not trust, a name that does not exist): not retried.
    """

    def __init__(self, message: str, *, what: str = "", transient: bool = True) -> None:
        super().__init__(message)
        self.message = message
        self.what = what
        self.transient = transient

    def __str__(self) -> str:
        where = f"{self.what}: " if self.what else ""
        return f"{where}{self.message}"
