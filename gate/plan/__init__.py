"""Planning: dvc.yaml and params from manifests, the CI matrix, changed-manifest detection."""
