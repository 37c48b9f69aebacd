"""The Flask example of docs/configuration.md: ddbes wired once, in the app factory."""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify

from ddbes.container import Container, create_container, install
from tests.container.app import Counter


def create_app(container: Container | None = None) -> Flask:
    container = container or create_container()  # DDBES_* variables or the DDBES_CONFIG file
    install(container)
    app = Flask(__name__)
    app.extensions["ddbes"] = container

    @app.post("/counters/<name>/increment")
    def increment(name: str) -> Any:
        counter = Counter.load_or_create(name=name).increment()
        return jsonify(name=name, value=counter.state, version=counter.version)

    return app
