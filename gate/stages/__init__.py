"""The DVC stages' shared machinery: failure records, process isolation, the baseline stage."""
