"""Shared fixtures: real services live in ``tests/services.py``."""

pytest_plugins = ["tests.services"]
