"""Formatters of a :class:`gate.decision.Decision`: they read verdicts, never recompute them."""
