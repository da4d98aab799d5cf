"""The scan step as the CLI runs it: get a report, judge it, write the reports, say the verdict.

The report comes from a Trivy run ci-deploy starts (an image, or a folder) or from a Trivy JSON
file an earlier step wrote (``aquasecurity/trivy-action``, a scanner job of your own). Either
way Trivy only reports: the gate is ci-deploy's, from ``scan:`` and the command line.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ci_deploy import __version__
from ci_deploy.config.model import ScanConfig
from ci_deploy.errors import CiDeployError, UserInputError
from ci_deploy.fileio import write_atomically
from ci_deploy.platforms import Platform
from ci_deploy.scan.findings import Finding, ScanReport
from ci_deploy.scan.gitlab_report import to_gitlab_container_scanning
from ci_deploy.scan.ignore import IgnoreRule, load_ignore_file
from ci_deploy.scan.policy import Gate, Verdict, judge, parse_severities
from ci_deploy.scan.sarif import to_sarif
from ci_deploy.scan.summary import finding_line, gate_line, summary_markdown, summary_text
from ci_deploy.scan.tools import TargetKind, run_trivy, write_sbom
from ci_deploy.scan.trivy import load_trivy_report

# Annotations for at most this many failing findings (the summary and the reports hold all).
MAX_ANNOTATIONS = 10
DEFAULT_IGNORE_FILES = (".trivyignore", ".trivyignore.yaml")


class GateFailed(CiDeployError):
    """Findings at a gated severity: exit 1 (nothing was deployed)."""


@dataclass(frozen=True)
class ScanOptions:
    """The command line of ``ci-deploy scan`` (None: the configuration's value)."""

    image: str | None = None
    path: str | None = None
    report: str | None = None
    severity: str | None = None
    ignore_unfixed: bool | None = None
    ignore_file: str | None = None
    scanners: str | None = None
    offline: bool = False
    cache_dir: str | None = None
    sarif: str | None = None
    gitlab_report: str | None = None
    sbom: str | None = None
    timeout: float | None = None


def scan_and_report(
    settings: ScanConfig, base: Path, opts: ScanOptions, platform: Platform, env: Mapping[str, str]
) -> Verdict:
    """Scan as ``opts`` say, write the reports, publish the verdict; GateFailed on failure.

    ``base``: the configuration file's folder (ignore files are found beside it).
    """
    kind, target = _target(opts, env)
    if opts.sbom and kind is None:
        raise UserInputError("--sbom needs --image or --path: a report holds no package list")
    gate = Gate(
        severities=parse_severities(opts.severity)
        if opts.severity
        else frozenset(settings.severity),
        ignore_unfixed=settings.ignore_unfixed
        if opts.ignore_unfixed is None
        else opts.ignore_unfixed,
        rules=_rules(settings, base, opts),
    )
    timeout = opts.timeout if opts.timeout is not None else settings.timeout.seconds
    started = dt.datetime.now(dt.timezone.utc)
    if kind is None:
        platform.log(f"reading the Trivy report {target}")
        report = load_trivy_report(Path(target))
    else:
        scanners = opts.scanners.split(",") if opts.scanners else list(settings.scanners)
        platform.log(f"trivy {kind} {target} (scanners {', '.join(s.strip() for s in scanners)})")
        with platform.group(f"trivy {kind} {target}"):
            report = run_trivy(
                kind,
                target,
                scanners=[s.strip() for s in scanners if s.strip()],
                offline=opts.offline,
                cache_dir=Path(opts.cache_dir) if opts.cache_dir else None,
                timeout=timeout,
                env=env,
            )
    ended = dt.datetime.now(dt.timezone.utc)
    verdict = judge(report, gate)
    # Trivy names files relative to the folder it scanned; annotations and SARIF need them
    # relative to the working directory (the repository's root in CI).
    prefix = _folder_prefix(target) if kind == "fs" else ""
    _write_reports(report, verdict, opts, started, ended, platform, prefix)
    if opts.sbom and kind is not None:  # (a report was refused above)
        tool = write_sbom(kind, target, Path(opts.sbom), timeout=timeout, env=env)
        platform.log(f"SBOM (CycloneDX, {tool}) written to {opts.sbom}")
    _publish(report, verdict, platform, prefix)
    if not verdict.passed:
        top = "; ".join(finding_line(f) for f in verdict.failing[:3])
        more = f" and {len(verdict.failing) - 3} more" if len(verdict.failing) > 3 else ""
        raise GateFailed(f"scan {gate_line(verdict)}: {top}{more}")
    return verdict


def _target(opts: ScanOptions, env: Mapping[str, str]) -> tuple[TargetKind | None, str]:
    """What to scan (kind None: a report file): one of --image, --path, --report; else the
    digest the build handed on."""
    given = [
        (k, v) for k, v in (("image", opts.image), ("fs", opts.path), ("report", opts.report)) if v
    ]
    if len(given) > 1:
        names = ", ".join(
            {"image": "--image", "fs": "--path", "report": "--report"}[k] for k, _ in given
        )
        raise UserInputError(f"scan: {names} were given; expected one of them")
    if given:
        kind, target = given[0]
        if kind == "report":
            if not Path(target).is_file():
                raise UserInputError(f"--report {target}: no such file")
            return None, target
        if kind == "fs":
            if not Path(target).is_dir():
                raise UserInputError(f"--path {target}: not a folder")
            return "fs", target
        return "image", target
    built = env.get("CI_DEPLOY_DIGEST", "").strip()
    if built:
        return "image", built
    raise UserInputError(
        "scan: nothing to scan",
        hint="pass --image REF (default: $CI_DEPLOY_DIGEST, which `ci-deploy build --push` "
        "hands on), --path DIR, or --report FILE (a Trivy JSON report)",
    )


def _rules(settings: ScanConfig, base: Path, opts: ScanOptions) -> list[IgnoreRule]:
    """The ignore rules: --ignore-file, scan.ignore_file, or a .trivyignore beside the file."""
    chosen = opts.ignore_file or settings.ignore_file
    if chosen:
        path = Path(chosen) if opts.ignore_file else base / chosen
    else:
        found = [base / name for name in DEFAULT_IGNORE_FILES if (base / name).is_file()]
        if not found:
            return []
        path = found[0]
    return load_ignore_file(path, yaml_loader=_plain_yaml)


def _plain_yaml(text: str, file: str) -> object:
    """The project's YAML loader (alias bombs refused), as plain values."""
    from ci_deploy.yamlfile import load_yaml

    return load_yaml(text, file).data


def _write_reports(
    report: ScanReport,
    verdict: Verdict,
    opts: ScanOptions,
    started: dt.datetime,
    ended: dt.datetime,
    platform: Platform,
    prefix: str,
) -> None:
    if opts.sarif:
        sarif = to_sarif(report, verdict, path_prefix=prefix, ci_deploy_version=__version__)
        write_atomically(Path(opts.sarif), json.dumps(sarif, indent=2) + "\n")
        platform.log(f"SARIF written to {opts.sarif} ({len(report.findings)} results)")
    if opts.gitlab_report:
        gitlab = to_gitlab_container_scanning(
            report,
            verdict,
            scanner_version=report.trivy_version or "unknown",
            start=started,
            end=ended,
        )
        write_atomically(Path(opts.gitlab_report), json.dumps(gitlab, indent=2) + "\n")
        count = len(gitlab.get("vulnerabilities", []))
        platform.log(f"GitLab container-scanning report written to {opts.gitlab_report} ({count})")


def _publish(report: ScanReport, verdict: Verdict, platform: Platform, prefix: str) -> None:
    """The log, the annotations, the job summary and the outputs of the verdict."""
    for text in summary_text(report, verdict).splitlines():
        platform.log(text)
    # Findings in a repository file (secrets, misconfigurations) are annotated on the file;
    # the error that ends the step names the first failing findings of any kind.
    placed = [(f, *_annotation_place(f, prefix)) for f in verdict.failing]
    for finding, file, line in [p for p in placed if p[1] is not None][:MAX_ANNOTATIONS]:
        platform.error(finding_line(finding), file=file, line=line)
    platform.summary(summary_markdown(report, verdict))
    failing = verdict.failing_counts()
    platform.set_outputs(
        {
            "scan-result": "passed" if verdict.passed else "failed",
            "scan-failing": str(len(verdict.failing)),
            "scan-critical": str(failing["CRITICAL"]),
            "scan-high": str(failing["HIGH"]),
        }
    )


def _folder_prefix(folder: str) -> str:
    """``folder`` relative to the working directory, or "" when it is outside it."""
    relative = Path(os.path.relpath(Path(folder).resolve(), Path.cwd().resolve()))
    if ".." in relative.parts or relative == Path("."):
        return ""
    return relative.as_posix()


def _annotation_place(finding: Finding, prefix: str) -> tuple[str | None, int | None]:
    """A file inside the repository to annotate (relative, no ``..``), else none."""
    location = finding.location
    if location is None or not location.path:
        return None, None
    path = Path(location.path)
    if path.is_absolute() or ".." in path.parts or any(c in location.path for c in "\r\n,:"):
        return None, None
    return (Path(prefix) / path).as_posix() if prefix else path.as_posix(), location.start_line
