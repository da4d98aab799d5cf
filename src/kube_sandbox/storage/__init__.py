"""The object store and the files the sandbox keeps (state, kubeconfig, tokens)."""
