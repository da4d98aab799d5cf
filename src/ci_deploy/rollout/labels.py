"""Labels that tell an app's workloads apart: for routers, metric queries and people."""

TRACK_LABEL = "ci-deploy.dev/track"  # stable | canary | baseline (pods and Deployments)
COLOR_LABEL = "ci-deploy.dev/color"  # blue | green
