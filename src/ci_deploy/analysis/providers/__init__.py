"""Providers: where observations come from, one module each behind ``analysis.model.Provider``.

- ``http`` — smoke checks: ``HttpProbe`` (URL, method, allowed statuses, a body regex, a
  latency limit, secret headers, check-level retries, TLS) measured by ``HttpProvider``
  through ``ci_deploy.httpclient``; value: the latency in ms of the last attempt.
- ``command`` — the user's test command: ``CommandProbe`` (argv, cwd, env additions,
  timeout, an optional JUnit XML) run by ``CommandProvider`` without a shell, its process
  group killed on timeout; value: the exit code; ``read_junit`` summarises the JUnit XML.
- ``prometheus`` — PromQL over the HTTP API (to come).

A provider never raises for what the observed system does: a refused connection, a 503, a
failing test or a hung command is a ``Measurement`` with ``error`` or ``passed`` set.
"""
