"""MLflow: runs and lineage tags, the store, registered versions, promotion."""
