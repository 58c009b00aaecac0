"""Inputs: manifest and policy schemas, YAML loading with locations, shipped policies."""
