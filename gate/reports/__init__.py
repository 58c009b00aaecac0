"""Formatters of a :class:`gate.verdict.decision.Decision`: they read verdicts, never recompute them."""
