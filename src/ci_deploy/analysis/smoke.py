"""Smoke checks from ``analysis.smoke``: each HTTP or command check run once, as a verdict.

URL templates get ``{{ url }}`` (the environment's URL), ``{{ service }}`` (the Service under
test: the preview Service before a blue-green switch, the app's after), ``{{ namespace }}``,
``{{ app }}``, ``{{ environment }}``, ``{{ track }}`` and ``{{ color }}``, rendered in the
manifests' sandbox. Header values and a command's extra variables come from the
environment variables named in the configuration, never from the file. Commands run in the
repository (the configuration file's folder), their JUnit XML is read from there.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from ci_deploy.analysis.model import Measurement, Verdict
from ci_deploy.config.model import CommandCheckConfig, HttpCheckConfig, SmokeCheck
from ci_deploy.render.jinja import StringTemplateError, render_string
from ci_deploy.text import one_line


def smoke_verdicts(
    checks: Sequence[SmokeCheck],
    variables: Mapping[str, str],
    root: Path,
    env: Mapping[str, str] | None = None,
) -> list[Verdict]:
    """Run every check once (in order); a check that cannot even be set up fails, saying why."""
    environ = os.environ if env is None else env
    out = []
    for check in checks:
        if check.http is not None:
            out.append(_http(check.name, check.http, variables, environ))
        elif check.command is not None:
            out.append(_command(check.name, check.command, root, environ))
    return out


def _refused(check: str, query: str, rule: str, why: str) -> Verdict:
    return Verdict(check, one_line(query), "not run", rule, "fail", reason=one_line(why))


def _http(
    name: str, cfg: HttpCheckConfig, variables: Mapping[str, str], env: Mapping[str, str]
) -> Verdict:
    from ci_deploy.analysis.providers.http import HttpProbe, HttpProvider

    check = f"http {name}"
    rule = f"status {'/'.join(str(s) for s in cfg.status)}"
    if cfg.body:
        rule += f", body /{cfg.body}/"
    if cfg.max_latency is not None:
        rule += f", within {cfg.max_latency.text}"
    try:
        url = render_string(cfg.url, {"color": "", **variables}).strip()
    except StringTemplateError as exc:
        return _refused(check, cfg.url, rule, f"the url template does not render: {exc}")
    missing = [v for v in cfg.headers_env.values() if not env.get(v)]
    if missing:
        return _refused(
            check, url, rule, f"the environment variable {missing[0]} (a header value) is not set"
        )
    try:
        probe = HttpProbe(
            url=url,
            method=cfg.method,
            expect_status=cfg.status,
            body=cfg.body,
            max_latency_ms=cfg.max_latency.seconds * 1000 if cfg.max_latency else None,
            headers={h: env[v] for h, v in cfg.headers_env.items()},
            retries=cfg.retries,
            retry_delay=cfg.retry_delay.seconds,
            timeout=cfg.timeout.seconds,
            verify=not cfg.insecure_skip_tls_verify,
        )
    except ValueError as exc:
        return _refused(check, url, rule, str(exc))
    measured = HttpProvider().measure(probe)
    observed = _latency(measured)
    return _verdict(check, probe.target, observed, rule, measured)


def _command(name: str, cfg: CommandCheckConfig, root: Path, env: Mapping[str, str]) -> Verdict:
    from ci_deploy.analysis.providers.command import CommandProbe, CommandProvider

    check = f"command {name}"
    rule = "exit 0" + (", no failed test in the JUnit XML" if cfg.junit else "")
    try:
        probe = CommandProbe.from_text(
            cfg.run, cwd=root, env=dict(cfg.env), timeout=cfg.timeout.seconds, junit=cfg.junit
        )
    except ValueError as exc:
        return _refused(check, cfg.run, rule, str(exc))
    measured = CommandProvider(check).measure(probe)
    if measured.error:
        observed = f"error: {measured.error}"
    else:
        code = "no exit code" if measured.value is None else f"exit {measured.value:g}"
        tests = f", {measured.samples} tests" if measured.samples else ""
        observed = code + tests
    return _verdict(check, probe.command_line, observed, rule, measured)


def _latency(measured: Measurement) -> str:
    if measured.error:
        return f"error: {measured.error}"
    return "no answer" if measured.value is None else f"answered in {measured.value:.0f}ms"


def _verdict(check: str, query: str, observed: str, rule: str, measured: Measurement) -> Verdict:
    passed = bool(measured.passed) and not measured.error
    first = measured.detail[0] if measured.detail else ""
    reason = "every expectation met" if passed else (measured.error or first or "failed")
    return Verdict(
        check=check,
        query=one_line(query),
        observed=one_line(observed),
        rule=rule,
        result="pass" if passed else "fail",
        samples=measured.samples,
        reason=one_line(reason),
        value=measured.value,
        detail=tuple(one_line(d) for d in measured.detail[:8]),
    )


def smoke_to_dict(check: SmokeCheck) -> dict[str, object]:
    """A check as recorded in a rollout's plan (env var names only: no secret in it)."""
    out: dict[str, object] = {"name": check.name}
    if check.http is not None:
        h = check.http
        out["http"] = {
            "url": h.url,
            "method": h.method,
            "status": list(h.status),
            "body": h.body,
            "maxLatency": h.max_latency.text if h.max_latency else None,
            "headersEnv": dict(h.headers_env),
            "retries": h.retries,
            "retryDelay": h.retry_delay.text,
            "timeout": h.timeout.text,
            "insecure": h.insecure_skip_tls_verify,
        }
    if check.command is not None:
        c = check.command
        out["command"] = {
            "run": c.run,
            "junit": c.junit,
            "timeout": c.timeout.text,
            "env": dict(c.env),
        }
    return out


def smoke_from_dict(doc: Mapping[str, object]) -> SmokeCheck:
    """The inverse of ``smoke_to_dict``."""
    from ci_deploy.config.values import parse_duration

    http, command = doc.get("http"), doc.get("command")
    h = c = None
    if isinstance(http, dict):
        h = HttpCheckConfig(
            url=str(http["url"]),
            method=str(http["method"]),
            status=tuple(int(s) for s in http["status"]),
            body=http.get("body"),
            max_latency=parse_duration(http["maxLatency"]) if http.get("maxLatency") else None,
            headers_env={str(k): str(v) for k, v in (http.get("headersEnv") or {}).items()},
            retries=int(http["retries"]),
            retry_delay=parse_duration(http["retryDelay"]),
            timeout=parse_duration(http["timeout"]),
            insecure_skip_tls_verify=bool(http.get("insecure")),
        )
    if isinstance(command, dict):
        c = CommandCheckConfig(
            run=str(command["run"]),
            junit=command.get("junit"),
            timeout=parse_duration(command["timeout"]),
            env={str(k): str(v) for k, v in (command.get("env") or {}).items()},
        )
    return SmokeCheck(name=str(doc["name"]), http=h, command=c)
