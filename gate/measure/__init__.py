"""Measurement: each artifact in a fresh worker process, baseline and candidate interleaved."""
