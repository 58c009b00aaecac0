"""edge-gate: a GitOps CI/CD policy gate for edge-AI model optimization."""

__version__ = "0.1.0"
