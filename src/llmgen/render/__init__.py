"""Rendering: targets, templates, quoting, Kubernetes, multi-node, manifest, the safe writer."""
