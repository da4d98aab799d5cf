"""What a rendered pipeline contains, decided from the configuration and the available verbs.

The seed's pipeline is the model: build, scan, validate, then for each environment a deploy,
a verification and a status report, the last environment gated (GitLab ``when: manual``,
GitHub environment protection rules), and a manual rollback per environment. An environment
whose strategy can pause at a manual gate (canary, blue-green) also gets a promote job, the
human gate, and an abort job. A stage whose verb ``ci-deploy`` does not have yet (build, scan,
verify) is left out, never emitted as a job that cannot run: adding the verb's module switches
it on. For the same reason an environment gets a verify job only when the configuration gives
``ci-deploy verify`` something to check (smoke checks or rollback triggers), and build and scan
jobs only when it has a ``build:`` or ``scan:`` section (many repositories build elsewhere).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from ci_deploy.config import Config
from ci_deploy.errors import UserInputError
from ci_deploy.verbs import verb_available

PLATFORMS = ("github", "gitlab")

# pipeline stage -> the ci-deploy verb it runs
STAGE_VERBS: dict[str, str] = {
    "build": "build",
    "scan": "scan",
    "validate": "config",
    "deploy": "deploy",
    "verify": "verify",
    "status": "status",
    "rollback": "rollback",
    "promote": "promote",
    "abort": "abort",
}

# Strategies whose deploy can stop at a manual gate (phase Paused, exit 0): their environments
# get promote and abort jobs.
PAUSING_STRATEGIES = ("canary", "blue_green")


@dataclass(frozen=True)
class EnvironmentStep:
    """One environment of the deploy chain."""

    name: str
    url: str | None
    gated: bool  # the last one: manual on GitLab, protected environment on GitHub
    previous: str | None  # the environment deployed just before, None for the first
    gates: bool = False  # its strategy can pause: promote and abort jobs follow its deploy
    checks: bool = False  # it has something for `ci-deploy verify` to check (smoke, triggers)


@dataclass(frozen=True)
class GitLabTemplate:
    """How the rendered .gitlab-ci.yml includes ci-deploy's template."""

    kind: str  # "project" | "local" | "remote"
    location: str  # project path, file path or URL
    ref: str | None = None
    file: str = ".gitlab-ci-template.yml"


@dataclass(frozen=True)
class PipelinePlan:
    """Everything a pipeline template needs; built by :func:`plan_pipeline`."""

    platform: str
    app: str
    repository: str
    config_path: str
    branch: str
    environments: list[EnvironmentStep]
    stages: dict[str, bool]  # stage -> its verb exists
    action: str
    gitlab_template: GitLabTemplate
    tool_image: str | None = None
    notes: list[str] = field(default_factory=list)

    def has(self, stage: str) -> bool:
        """Whether the pipeline contains ``stage`` (its verb exists)."""
        return self.stages.get(stage, False)

    def verifies(self, env: EnvironmentStep) -> bool:
        """Whether ``env`` gets a verify job: the verb exists and it has checks to run."""
        return self.has("verify") and env.checks


_PROJECT_RE = re.compile(r"^project:([\w.-]+(?:/[\w.-]+)+)@([\w./-]+)$")


def parse_gitlab_template(value: str) -> GitLabTemplate:
    """``project:GROUP/NAME@REF`` | ``local[:PATH]`` | ``remote:URL`` → GitLabTemplate."""
    if value == "local" or value.startswith("local:"):
        path = value.partition(":")[2] or ".gitlab-ci-template.yml"
        return GitLabTemplate("local", path, file=path)
    if value.startswith("remote:https://"):
        return GitLabTemplate("remote", value.partition(":")[2])
    match = _PROJECT_RE.match(value)
    if match:
        return GitLabTemplate("project", match.group(1), ref=match.group(2))
    raise UserInputError(
        f"--gitlab-template {value!r}: expected project:GROUP/NAME@REF, local[:PATH] "
        "or remote:https://URL"
    )


def pipeline_config_path(source: str) -> str:
    """The configuration path as the pipeline names it: relative to the repository root (cwd)."""
    relative = os.path.relpath(os.path.abspath(source))
    if not re.fullmatch(r"[A-Za-z0-9._/@+-]+", relative):
        # it is written into the pipeline's comments and quoted strings: no newline, no quote
        raise UserInputError(
            f"{source!r}: a configuration path in a pipeline may hold only letters, digits and "
            "._/@+- (it is written into the rendered pipeline)",
            hint="rename the file or its folder",
        )
    if relative.startswith(".."):
        raise UserInputError(
            f"{source}: the configuration is outside the current directory",
            hint="run `ci-deploy render pipeline` from the repository root",
        )
    return relative.replace(os.sep, "/")


def choose_environments(cfg: Config, names: list[str] | None) -> list[EnvironmentStep]:
    """The deploy chain: ``names`` in that order (default: every environment, file order)."""
    chosen = names or cfg.environment_names
    if not chosen:
        raise UserInputError(f"{cfg.source}: no environments to deploy to")
    envs = [cfg.environment(name) for name in chosen]  # unknown names: did-you-mean error
    if len(set(chosen)) != len(chosen):
        raise UserInputError(f"--environments {','.join(chosen)}: an environment is repeated")
    return [
        EnvironmentStep(
            name=env.name,
            url=env.url,
            gated=index == len(envs) - 1 and len(envs) > 1,
            previous=envs[index - 1].name if index else None,
            gates=env.strategy in PAUSING_STRATEGIES,
            checks=cfg.verifiable(env),  # else verify refuses: "nothing to verify"
        )
        for index, env in enumerate(envs)
    ]


def plan_pipeline(
    cfg: Config,
    platform: str,
    *,
    environments: list[str] | None = None,
    branch: str = "main",
    action: str = "org/ci-deploy@v1",
    gitlab_template: str = "project:org/ci-deploy@v1",
    tool_image: str | None = None,
) -> PipelinePlan:
    """Decide the pipeline's jobs from the configuration and the verbs this ci-deploy has."""
    if platform not in PLATFORMS:
        raise UserInputError(f"--platform {platform!r}: expected one of {', '.join(PLATFORMS)}")
    if not re.fullmatch(r"[\w.-]+/[\w.-]+(/[\w./-]+)?@[\w./-]+", action):
        raise UserInputError(f"--action {action!r}: expected OWNER/REPO@REF")
    if not re.fullmatch(r"[\w./-]+", branch):
        raise UserInputError(f"--branch {branch!r}: not a branch name")
    stages = {stage: verb_available(verb) for stage, verb in STAGE_VERBS.items()}
    for required in ("validate", "deploy", "status", "rollback", "promote", "abort"):
        if not stages[required]:  # a broken installation, not user input
            raise RuntimeError(f"ci-deploy has no `{STAGE_VERBS[required]}` verb")
    notes = [
        f"no `{name}` job: this ci-deploy has no `{STAGE_VERBS[name]}` verb yet"
        for name in ("build", "scan", "verify")
        if not stages[name]
    ]
    # A repository that builds its image elsewhere says nothing of build: or scan:; one with a
    # build: section gets the image built, scanned and deployed by digest.
    if stages["build"] and cfg.build is None:
        stages["build"] = False
        notes.append(
            "no `build` job: the configuration has no build: section (docs/build-and-scan.md)"
        )
    if stages["scan"] and cfg.scan is None and cfg.build is None:
        stages["scan"] = False
        notes.append("no `scan` job: the configuration has no scan: or build: section")
    chain = choose_environments(cfg, environments)
    unverified = [cfg.environment(step.name) for step in chain if not step.checks]
    if stages["verify"] and unverified:
        keys = " or ".join(sorted({cfg.triggers_key(env.strategy) for env in unverified}))
        notes.append(
            f"`verify` jobs left out ({', '.join(env.name for env in unverified)}): the"
            f" configuration has no analysis.smoke checks and no {keys} (docs/analysis.md)"
        )
    return PipelinePlan(
        platform=platform,
        app=cfg.app,
        repository=cfg.image.repository,
        config_path=pipeline_config_path(cfg.source),
        branch=branch,
        environments=chain,
        stages=stages,
        action=action,
        gitlab_template=parse_gitlab_template(gitlab_template),
        tool_image=tool_image,
        notes=notes,
    )
