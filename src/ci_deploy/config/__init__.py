"""The configuration file ``ci-deploy.yml``: typed model, validation, environment overlays.

from ci_deploy.config import load_config
cfg = load_config("ci-deploy.yml")        # ConfigError (exit 2) lists every problem
env = cfg.environment("staging")           # defaults merged with the environment's block
"""

from __future__ import annotations

from ci_deploy.config.load import load_config, load_config_text
from ci_deploy.config.model import (
    STRATEGIES,
    AnalysisConfig,
    BlueGreenColor,
    BlueGreenConfig,
    CanaryConfig,
    CanaryStage,
    Config,
    EnvironmentConfig,
    HPAConfig,
    HTTPRouteConfig,
    ImageConfig,
    IngressConfig,
    ManifestsConfig,
    MigrationsConfig,
    NotificationsConfig,
    PagerDutyConfig,
    ParentRef,
    PrometheusConfig,
    Resources,
    RollingConfig,
    SlackConfig,
    StrategyName,
    Trigger,
)
from ci_deploy.config.values import Duration, Threshold, parse_duration, parse_threshold

__all__ = [
    "STRATEGIES",
    "AnalysisConfig",
    "BlueGreenColor",
    "BlueGreenConfig",
    "CanaryConfig",
    "CanaryStage",
    "Config",
    "Duration",
    "EnvironmentConfig",
    "HPAConfig",
    "HTTPRouteConfig",
    "ImageConfig",
    "IngressConfig",
    "ManifestsConfig",
    "MigrationsConfig",
    "NotificationsConfig",
    "PagerDutyConfig",
    "ParentRef",
    "PrometheusConfig",
    "Resources",
    "RollingConfig",
    "SlackConfig",
    "StrategyName",
    "Threshold",
    "Trigger",
    "load_config",
    "load_config_text",
    "parse_duration",
    "parse_threshold",
]
