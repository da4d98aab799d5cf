"""``config show --env ENV`` shows the host the environment's rendered Ingress / HTTPRoute really
uses: the built-in templates serve the host of the environment's ``url`` when it has one."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from tests.config.error_cases import run_cli

from ci_deploy.config import load_config, load_config_text
from ci_deploy.render import render_manifests

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "web-app" / "ci-deploy.yml"
IMAGE = "registry.example.com/acme/web-app:1.0.0"


def shown(env: str, tmp_path: Path, *args: str, source: Path = EXAMPLE) -> str:
    outcome = run_cli(("-c", str(source), "config", "show", "--env", env, *args), tmp_path)
    assert outcome.exit_code == 0, outcome.stderr
    return outcome.stdout


def rendered_host(source: Path, env: str) -> str:
    objects = render_manifests(load_config(source), env, IMAGE)
    ingress = next(o for o in objects if o["kind"] == "Ingress")
    return str(ingress["spec"]["rules"][0]["host"])


def test_staging_shows_the_host_of_its_rendered_ingress(tmp_path: Path) -> None:
    text = shown("staging", tmp_path)
    assert yaml.safe_load(text)["manifests"]["ingress"]["host"] == "staging.example.com"
    assert rendered_host(EXAMPLE, "staging") == "staging.example.com"
    data = json.loads(shown("staging", tmp_path, "--format", "json"))
    assert data["manifests"]["ingress"]["host"] == "staging.example.com"


def test_the_yaml_says_where_the_host_comes_from(tmp_path: Path) -> None:
    header = [line for line in shown("staging", tmp_path).splitlines() if line.startswith("#")]
    assert header == [
        f"# effective configuration of environment 'staging' from {EXAMPLE}",
        "# manifests.ingress.host: staging.example.com, the host of environments.staging.url"
        " (the built-in templates serve it); the file sets app.example.com for environments"
        " without a url",
    ]


def test_an_environment_without_url_shows_the_configured_host(tmp_path: Path) -> None:
    text = shown("development", tmp_path)
    assert yaml.safe_load(text)["manifests"]["ingress"]["host"] == "app.example.com"
    assert rendered_host(EXAMPLE, "development") == "app.example.com"
    assert sum(line.startswith("#") for line in text.splitlines()) == 1


def test_every_environment_shown_renders_as_the_original(tmp_path: Path) -> None:
    cfg = load_config(EXAMPLE)
    for name in cfg.environment_names:
        again = load_config_text(shown(name, tmp_path), str(EXAMPLE))
        assert render_manifests(again, name, IMAGE) == render_manifests(cfg, name, IMAGE), name


def test_http_route_hostnames_are_the_url_host(tmp_path: Path) -> None:
    (tmp_path / "ci-deploy.yml").write_text(
        "app: shop\nimage: {repository: registry.example.com/shop}\n"
        "manifests:\n  http_route:\n    hostnames: [shop.example.com, www.shop.example.com]\n"
        "    parent_ref: {name: public}\n"
        "environments:\n  staging: {url: 'https://staging.shop.example.com/'}\n  dev: {}\n"
    )
    source = tmp_path / "ci-deploy.yml"
    route = yaml.safe_load(shown("staging", tmp_path, source=source))["manifests"]["http_route"]
    assert route["hostnames"] == ["staging.shop.example.com"]
    objects = render_manifests(load_config(source), "staging", "registry.example.com/shop:1")
    http_route = next(o for o in objects if o["kind"] == "HTTPRoute")
    assert http_route["spec"]["hostnames"] == ["staging.shop.example.com"]
    dev = yaml.safe_load(shown("dev", tmp_path, source=source))["manifests"]["http_route"]
    assert dev["hostnames"] == ["shop.example.com", "www.shop.example.com"]


def test_user_templates_see_the_configured_values(tmp_path: Path) -> None:
    # a user template may read manifests.ingress.host or the `host` variable: both are shown
    (tmp_path / "tpl").mkdir()
    (tmp_path / "ci-deploy.yml").write_text(
        "app: shop\nimage: {repository: registry.example.com/shop}\n"
        "manifests:\n  templates: tpl\n  ingress: {host: shop.example.com}\n"
        "environments:\n  staging: {url: 'https://staging.shop.example.com'}\n"
    )
    text = shown("staging", tmp_path, source=tmp_path / "ci-deploy.yml")
    assert yaml.safe_load(text)["manifests"]["ingress"]["host"] == "shop.example.com"
    assert text.splitlines()[1] == (
        "# manifests.ingress.host: shop.example.com in the file; the template variable `host`"
        " is staging.shop.example.com, the host of environments.staging.url"
    )
