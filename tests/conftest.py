"""Shared fixtures: a real env server on a free loopback port (uvicorn on a thread)."""
from __future__ import annotations

import pytest

from env_server.app import ServerConfig, create_app
from env_server.serving import serve_in_thread


@pytest.fixture(scope="session")
def live_server() -> str:
    """Base URL of a real server with the built-in tasks (session cap 300, TTL 600 s)."""
    url, stop = serve_in_thread(create_app(ServerConfig(session_cap=300, session_ttl_s=600)))
    yield url
    stop()


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> str:
    """A tiny random Llama with the embedded model's tokenizer, built locally (no download, ~5 s)."""
    from training.models import tiny_model_dir

    return str(tiny_model_dir(tmp_path_factory.mktemp("tiny-model")))
