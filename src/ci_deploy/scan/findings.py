"""The scan model: what a scanner found (a :class:`Finding`) and one scan's :class:`ScanReport`.

Every string in a finding came from the scanner's report, which quotes package metadata and
advisory text written by third parties: treat them as untrusted data everywhere they are shown.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Trivy's severity names, least to most severe; the index is the rank.
SEVERITIES = ("UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL")
KINDS = ("vulnerability", "misconfiguration", "secret")
# Trivy's names for its scanners (``--scanners``), by the kind of finding each produces.
SCANNER_OF_KIND = {"vulnerability": "vuln", "misconfiguration": "misconfig", "secret": "secret"}


def severity_rank(severity: str) -> int:
    """0 for UNKNOWN … 4 for CRITICAL."""
    return SEVERITIES.index(severity)


@dataclass(frozen=True)
class FileLocation:
    """Where in a scanned file a finding is (1-based lines; ``None`` when the scanner gave none)."""

    path: str
    start_line: int | None = None
    end_line: int | None = None


@dataclass(frozen=True)
class Finding:
    """One vulnerability, misconfiguration or secret that a scan reported."""

    kind: str  # one of KINDS
    id: str  # CVE-2019-14697, AVD-DS-0002 / DS-0002, github-pat
    severity: str  # one of SEVERITIES
    title: str
    target: str  # the Trivy Result Target: "debian:10.1 (debian 10.1)", "requirements.txt"
    target_class: str = ""  # Trivy's Result Class: os-pkgs, lang-pkgs, config, secret
    target_type: str = ""  # Trivy's Result Type: debian, pip, dockerfile
    package: str = ""  # vulnerabilities: the package name
    installed_version: str = ""
    fixed_version: str = ""  # "" when no fix is known
    status: str = ""  # vulnerabilities: Trivy's Status (fixed, affected, will_not_fix, …)
    primary_url: str = ""
    location: FileLocation | None = None  # the file and lines, when the scanner knows them
    description: str = ""  # what the issue is, in general (the advisory or check text)
    message: str = ""  # what is wrong here (a misconfiguration's message); "" when none
    aliases: tuple[str, ...] = ()  # other ids of the same check (a misconfig's ID and AVDID)
    package_path: str = ""  # vulnerabilities: Trivy's PkgPath (a lock file or jar in an image)
    purl: str = ""  # vulnerabilities: the package URL
    cwe_ids: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    resolution: str = ""  # misconfigurations: how to fix it

    @property
    def ids(self) -> tuple[str, ...]:
        """The id and its aliases: an ignore rule naming any of them matches."""
        return (self.id, *self.aliases)

    @property
    def fixed(self) -> bool:
        """A vulnerability with a released fix (Trivy Status "fixed")."""
        return self.status == "fixed"

    @property
    def where(self) -> str:
        """The package (``name@version``) for vulnerabilities, else the file (``path:line``)."""
        if self.kind == "vulnerability":
            version = f"@{self.installed_version}" if self.installed_version else ""
            return f"{self.package}{version}"
        if self.location is not None and self.location.start_line:
            return f"{self.location.path}:{self.location.start_line}"
        return self.location.path if self.location is not None else self.target

    def identity(self) -> str:
        """What makes this finding this one across scans (for stable ids and fingerprints)."""
        parts = [self.kind, self.id, self.target, self.package, self.installed_version]
        if self.kind != "vulnerability" and self.location is not None:
            parts += [self.location.path, str(self.location.start_line or "")]
        return "\x1f".join(parts)


@dataclass(frozen=True)
class ScanReport:
    """One scan: what was scanned, by which scanners, and every finding in it."""

    source: str  # where the report came from: a file path, or "trivy fs DIR"
    artifact_name: str
    artifact_type: str  # Trivy's ArtifactType: container_image, filesystem, repository, …
    findings: tuple[Finding, ...] = ()
    trivy_version: str | None = None  # reports of Trivy ≥ 0.5x say it; older ones do not
    scanners: frozenset[str] = field(default_factory=frozenset)  # "vuln", "misconfig", "secret"
    os: str | None = None  # "debian 10.1" for images whose OS Trivy detected

    def of_kind(self, kind: str) -> tuple[Finding, ...]:
        """The findings of one kind, in report order."""
        return tuple(f for f in self.findings if f.kind == kind)
