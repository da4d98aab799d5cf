"""The API server around the verbs: HTTP, access checks, routing, discovery, openapi, kubeconfig."""
