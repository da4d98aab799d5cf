"""The REST verbs on resources: get, list, watch, create, replace, patch, apply, delete."""
