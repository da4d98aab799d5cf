"""``ci-deploy scan``: run Trivy (or read its report), gate on the findings, write the reports.

Exit codes: 0 the gate passed, 1 findings failed it (or Trivy failed), 2 bad input (a corrupt
report, an unknown severity, a missing image or file), 4 Trivy (or syft) is not installed.
"""

from __future__ import annotations

import click

from ci_deploy.commands._rollout_options import duration_seconds


@click.command("scan")
@click.option(
    "--image",
    default=None,
    metavar="REF",
    help="Image to scan [default: $CI_DEPLOY_DIGEST, the digest `build --push` handed on].",
)
@click.option("--path", default=None, metavar="DIR", help="Folder to scan (trivy fs).")
@click.option(
    "--report",
    default=None,
    metavar="FILE",
    help="Gate an existing Trivy JSON report instead of running Trivy.",
)
@click.option(
    "--severity",
    default=None,
    metavar="LIST",
    help="Severities that fail the gate, e.g. HIGH,CRITICAL [default: scan.severity].",
)
@click.option(
    "--ignore-unfixed/--no-ignore-unfixed",
    default=None,
    help="Vulnerabilities without a fixed version do not fail the gate [default: "
    "scan.ignore_unfixed].",
)
@click.option(
    "--ignore-file",
    default=None,
    metavar="FILE",
    help="Trivy ignore file (.trivyignore text with exp: dates, or .trivyignore.yaml) "
    "[default: scan.ignore_file, else a .trivyignore beside the configuration].",
)
@click.option(
    "--scanners",
    default=None,
    metavar="LIST",
    help="What Trivy looks for: vuln,secret,misconfig [default: scan.scanners].",
)
@click.option(
    "--offline",
    is_flag=True,
    envvar="CI_DEPLOY_TRIVY_OFFLINE",
    help="Run Trivy without network (no database download: vuln needs a cached database).",
)
@click.option("--cache-dir", default=None, metavar="DIR", help="Trivy's cache folder.")
@click.option("--sarif", default=None, metavar="FILE", help="Write SARIF 2.1.0 (code scanning).")
@click.option(
    "--gitlab-report",
    default=None,
    metavar="FILE",
    help="Write GitLab's container-scanning report (artifacts:reports:container_scanning).",
)
@click.option(
    "--sbom", default=None, metavar="FILE", help="Write a CycloneDX SBOM (syft or trivy)."
)
@click.option(
    "--timeout",
    default=None,
    metavar="DURATION",
    help="Give up Trivy after [default: scan.timeout].",
)
@click.pass_context
def command(ctx: click.Context, /, **options: object) -> None:
    """Scan an image (or a folder) with Trivy, or read a Trivy JSON report, and gate on the
    findings: vulnerabilities, secrets and misconfigurations at the gated severities fail
    it, unless an unexpired ignore rule (or --ignore-unfixed) lets them pass. Writes a
    summary (counts per severity, the top findings with their fixed versions) to the job
    summary, and SARIF or GitLab's report when asked. Exit 1 when the gate fails."""
    import os
    from pathlib import Path

    from ci_deploy.config import load_config
    from ci_deploy.config.model import ScanConfig
    from ci_deploy.platforms import detect_platform
    from ci_deploy.scan.step import ScanOptions, scan_and_report

    timeout = options.pop("timeout")
    opts = ScanOptions(
        **options,  # type: ignore[arg-type]
        timeout=duration_seconds(str(timeout), "--timeout") if timeout else None,
    )
    config_path = Path(ctx.obj["config_path"])
    settings, base = ScanConfig(), Path.cwd()
    # Without a configuration file the defaults apply (gating a report needs none); a file
    # named with -c must exist.
    if config_path.exists() or str(config_path) != "ci-deploy.yml":
        cfg = load_config(config_path)
        settings, base = cfg.scan or ScanConfig(), config_path.parent
    scan_and_report(settings, base, opts, detect_platform(), os.environ)
