"""``ci_deploy/release.json``: which release this is (written by scripts/release.sh), or none."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import ci_deploy
from ci_deploy.errors import UserInputError
from ci_deploy.release import ReleaseInfo, installed_release, release_resource

RELEASE = {
    "version": "v1.2.3",
    "action": "owner/ci-deploy",
    "image": "ghcr.io/owner/ci-deploy",
    "gitlab_project": None,
}


def write(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "release.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def test_the_release_file_is_read_into_its_references(tmp_path: Path) -> None:
    release = installed_release(write(tmp_path, RELEASE))
    assert release == ReleaseInfo(
        version="v1.2.3",
        action_repository="owner/ci-deploy",
        image="ghcr.io/owner/ci-deploy",
        gitlab_project=None,
    )
    assert release.action_ref == "owner/ci-deploy@v1.2.3"
    # no GitLab project: the template file of the release tag, from the GitHub repository
    assert release.gitlab_template == (
        "remote:https://raw.githubusercontent.com/owner/ci-deploy/v1.2.3/.gitlab-ci-template.yml"
    )


def test_a_gitlab_project_is_included_at_the_release_tag(tmp_path: Path) -> None:
    release = installed_release(write(tmp_path, {**RELEASE, "gitlab_project": "tools/ci-deploy"}))
    assert release is not None
    assert release.gitlab_template == "project:tools/ci-deploy@v1.2.3"


def test_no_release_file_is_a_development_install(tmp_path: Path) -> None:
    assert installed_release(tmp_path / "release.json") is None


def test_the_release_file_is_the_packages_own_resource() -> None:
    # beside ci_deploy/__init__.py: where hatchling puts a file of src/ci_deploy in the wheel
    assert Path(str(release_resource())) == Path(ci_deploy.__file__).parent / "release.json"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"version": "v1.2.3",', r"not JSON \(.*line 1\)"),
        ([RELEASE], "expected a JSON object"),
        ({k: v for k, v in RELEASE.items() if k != "image"}, "missing image"),
        ({**RELEASE, "digest": "sha256:00"}, "unknown digest"),
        ({**RELEASE, "version": "1.2.3"}, 'version is "1.2.3", expected vX.Y.Z'),
        ({**RELEASE, "action": "ci-deploy"}, "action is .*OWNER/NAME"),
        ({**RELEASE, "image": "ghcr.io/owner/ci-deploy:v1"}, "image is .*without a tag"),
        ({**RELEASE, "gitlab_project": ""}, "gitlab_project is .*GROUP/NAME or null"),
        ({**RELEASE, "version": 1}, "version is 1, expected"),
    ],
)
def test_a_malformed_release_file_is_an_error_naming_the_file(
    tmp_path: Path, content: Any, message: str
) -> None:
    path = write(tmp_path, content)
    with pytest.raises(UserInputError, match=message) as caught:
        installed_release(path)
    assert caught.value.message.startswith(f"{path}: malformed release file: ")
    assert caught.value.hint is not None and "--action-ref" in caught.value.hint
