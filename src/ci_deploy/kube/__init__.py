"""The Kubernetes client layer: connect, read, apply, watch, lock; knows nothing of ci-deploy."""
