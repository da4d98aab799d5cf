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

The action, template and image a pipeline names are this release's (``ci_deploy.release``) or
given explicitly, never a placeholder: a development install without them is bad input.
What the platform's settings must still provide is listed in ``PipelinePlan.by_hand``.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field

from ci_deploy.config import Config
from ci_deploy.config.model import EnvironmentConfig, RegistryLoginConfig
from ci_deploy.errors import UserInputError
from ci_deploy.pipelines.by_hand import ITEMS, Gate, Surface
from ci_deploy.release import ReleaseInfo
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
    minutes: int = 20  # timeout-minutes of a job that rolls it out (see job_minutes)


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
    action: str | None  # GitHub: OWNER/REPO@REF of the action (None on GitLab)
    gitlab_template: GitLabTemplate | None  # GitLab: the include (None on GitHub)
    tool_image: str | None = None
    # build.registry of a pipeline that builds: the build and scan jobs pass its variables
    registry: RegistryLoginConfig | None = None
    notes: list[str] = field(default_factory=list)
    by_hand: list[str] = field(default_factory=list)  # to configure in the platform's settings

    def has(self, stage: str) -> bool:
        """Whether the pipeline contains ``stage`` (its verb exists)."""
        return self.stages.get(stage, False)

    def verifies(self, env: EnvironmentStep) -> bool:
        """Whether ``env`` gets a verify job: the verb exists and it has checks to run."""
        return self.has("verify") and env.checks


_PROJECT_RE = re.compile(r"^project:([\w.-]+(?:/[\w.-]+)+)@([\w./-]+)$")
_ACTION_RE = re.compile(r"[\w.-]+/[\w.-]+(/[\w./-]+)?@[\w./-]+")
# [REGISTRY[:PORT]/]NAME[:TAG][@sha256:DIGEST]
_IMAGE_RE = re.compile(r"[\w][\w.-]*(:\d+)?(/[\w.-]+)*(:[\w.-]+)?(@sha256:[0-9a-f]{64})?")
DEVELOPMENT_INSTALL = "this ci-deploy is a development install (no release.json)"


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


# timeout-minutes of a job that rolls an environment out: the rollout's own timeout (deploy
# --timeout's default, the action's `timeout` input), the waits its strategy makes by design,
# and a margin for the job's start (the action's image, the checkout).
ROLLOUT_TIMEOUT_MINUTES = 10
JOB_START_MINUTES = 10


def job_minutes(cfg: Config, env: EnvironmentConfig) -> int:
    """A job's ``timeout-minutes`` for rolling ``env`` out; never less than the rollout's own
    timeout, so GitHub's limit cannot cut a rollout (and its rollback) short first."""
    waits = 0.0
    if env.strategy == "canary" and cfg.canary is not None:
        for stage in cfg.canary.stages:
            for part in (stage.duration, stage.monitor_duration):
                waits += part.seconds if part is not None else 0.0
    elif env.strategy == "blue_green" and cfg.blue_green is not None:
        waits = cfg.blue_green.scale_down_delay.seconds
    return ROLLOUT_TIMEOUT_MINUTES + JOB_START_MINUTES + math.ceil(waits / 60)


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
            minutes=job_minutes(cfg, env),
        )
        for index, env in enumerate(envs)
    ]


def choose_stages(cfg: Config) -> tuple[dict[str, bool], list[str]]:
    """Which stages the pipeline has (stage -> included), and notes on those left out."""
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
    return stages, notes


# platform -> the option that names ci-deploy there, and its forms
REFERENCE_OPTIONS = {
    "github": ("--action-ref", "OWNER/REPO@REF"),
    "gitlab": ("--gitlab-template", "project:GROUP/NAME@REF, local[:PATH] or remote:https://URL"),
}


def choose_reference(
    platform: str,
    release: ReleaseInfo | None,
    *,
    action_ref: str | None,
    gitlab_template: str | None,
) -> str:
    """How the pipeline names ci-deploy on ``platform``: as given, else this release's own.

    Explicit values are checked whichever platform is rendered.
    """
    if action_ref is not None and not _ACTION_RE.fullmatch(action_ref):
        raise UserInputError(f"--action-ref {action_ref!r}: expected OWNER/REPO@REF")
    if gitlab_template is not None:
        parse_gitlab_template(gitlab_template)
    chosen = action_ref if platform == "github" else gitlab_template
    if chosen is not None:
        return chosen
    if release is None:
        option, form = REFERENCE_OPTIONS[platform]
        raise UserInputError(
            f"{DEVELOPMENT_INSTALL}: pass {option} {form}",
            hint="name a published release of ci-deploy (a tag or commit), or install "
            "ci-deploy from a release, whose references are the default",
        )
    return release.action_ref if platform == "github" else release.gitlab_template


def plan_pipeline(
    cfg: Config,
    platform: str,
    *,
    environments: list[str] | None = None,
    branch: str = "main",
    release: ReleaseInfo | None = None,
    action_ref: str | None = None,
    gitlab_template: str | None = None,
    tool_image: str | None = None,
) -> PipelinePlan:
    """Decide the pipeline's jobs from the configuration and the verbs this ci-deploy has.

    ci-deploy is named by ``action_ref`` (GitHub) or ``gitlab_template`` (GitLab), else by
    ``release``'s references; ``tool_image`` sets the GitLab jobs' image (the release's
    template pins its own).
    """
    if platform not in PLATFORMS:
        raise UserInputError(f"--platform {platform!r}: expected one of {', '.join(PLATFORMS)}")
    reference = choose_reference(
        platform, release, action_ref=action_ref, gitlab_template=gitlab_template
    )
    if tool_image is not None and not _IMAGE_RE.fullmatch(tool_image):
        raise UserInputError(
            f"--image {tool_image!r}: expected an image reference "
            "REGISTRY/NAME[:TAG][@sha256:DIGEST]"
        )
    if not re.fullmatch(r"[\w./-]+", branch):
        raise UserInputError(f"--branch {branch!r}: not a branch name")
    stages, notes = choose_stages(cfg)
    if tool_image is not None and platform == "github":
        notes.append(f"--image is for GitLab's jobs: the action {reference} runs its own image")
        tool_image = None
    chain = choose_environments(cfg, environments)
    notes.extend(unverified_notes(cfg, chain, stages))
    config_path = pipeline_config_path(cfg.source)
    registry = cfg.build.registry if stages["build"] and cfg.build is not None else None
    return PipelinePlan(
        platform=platform,
        app=cfg.app,
        repository=cfg.image.repository,
        config_path=config_path,
        branch=branch,
        environments=chain,
        stages=stages,
        action=reference if platform == "github" else None,
        gitlab_template=parse_gitlab_template(reference) if platform == "gitlab" else None,
        tool_image=tool_image,
        registry=registry,
        notes=notes,
        by_hand=ITEMS[platform](
            Surface(
                environments=[step.name for step in chain],
                gates=[
                    Gate(step.name, deploy=step.gated, promote=step.gates)
                    for step in chain
                    if step.gated or step.gates
                ],
                branch=branch,
                config_path=config_path,
                builds_to=cfg.image.repository if stages["build"] else None,
                registry=registry,
            )
        ),
    )


def unverified_notes(
    cfg: Config, chain: list[EnvironmentStep], stages: dict[str, bool]
) -> list[str]:
    """A note on the environments that get no verify job although the verb exists."""
    unverified = [cfg.environment(step.name) for step in chain if not step.checks]
    if not (stages["verify"] and unverified):
        return []
    keys = " or ".join(sorted({cfg.triggers_key(env.strategy) for env in unverified}))
    return [
        f"`verify` jobs left out ({', '.join(env.name for env in unverified)}): the"
        f" configuration has no analysis.smoke checks and no {keys} (docs/analysis.md)"
    ]
