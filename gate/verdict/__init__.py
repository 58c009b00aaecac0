"""The decision: rules, intervals, Pareto frontier, troubleshooting hints."""
