"""A local Kubernetes API (REST over HTTP) with controllers, for rehearsals and tests."""
