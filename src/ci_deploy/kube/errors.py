"""Errors of the Kubernetes layer, independent of the client library's exception types.

The ``kubernetes`` client raises its own untyped exceptions; ``kube.client`` turns them into
these two classes so that the retry helper and the rollout engine stay typed.
"""

from __future__ import annotations

import re

from ci_deploy.text import one_line

# An RBAC denial, as kube-apiserver words it (an admission webhook's 403 is worded otherwise)
_RBAC_DENIAL = re.compile(r'(?:^| is )forbidden: [Uu]ser "')

FORBIDDEN_TODO = (
    "grant that to the kubeconfig's user (a Role and RoleBinding in that namespace), or deploy "
    "with a kubeconfig whose user may"
)
UNAUTHORIZED_TODO = (
    "the token or client certificate of the kubeconfig's user is wrong or expired: renew it"
)


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

    @property
    def refused_credentials(self) -> bool:
        """401, or an RBAC 403: who the kubeconfig's user is, or what it may do, refused the
        request (a 403 from an admission webhook is not about the user: False)."""
        return self.status == 401 or (
            self.status == 403 and _RBAC_DENIAL.search(self.message) is not None
        )

    def credentials_line(self) -> str:
        """For 401/403: one inert line with the API's own message (for 403 it names the verb,
        resource, API group and namespace refused) and what to do."""
        if self.status == 401:
            return (
                f"the API server did not accept the kubeconfig's credentials (401 "
                f"{one_line(self.message)}); {UNAUTHORIZED_TODO}"
            )
        return f"refused by the cluster (403): {one_line(self.message)}; {FORBIDDEN_TODO}"


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
