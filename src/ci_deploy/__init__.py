"""ci-deploy: deployment toolkit for GitHub Actions, GitLab CI and the command line."""

__version__ = "0.1.0"
