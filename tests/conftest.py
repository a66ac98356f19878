"""Shared fixtures: a real env server on a free loopback port (uvicorn on a thread), a tiny local model,
and a scripted OpenAI-compatible chat server on loopback."""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from env_server.server.app import ServerConfig, create_app
from env_server.server.serving import serve_in_thread


@pytest.fixture(scope="session")
def live_server() -> str:
    """Base URL of a real server with the built-in tasks (session cap 300, all of it for one client; TTL 600 s)."""
    url, stop = serve_in_thread(create_app(ServerConfig(session_cap=300, session_ttl_s=600, sessions_per_client=300)))
    yield url
    stop()


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> str:
    """A tiny random Llama with the embedded model's tokenizer, built locally (no download, ~5 s)."""
    from training.embedded_model import tiny_model_dir

    return str(tiny_model_dir(tmp_path_factory.mktemp("tiny-model")))


class FakeLLM:
    """A tiny OpenAI-compatible server on 127.0.0.1; ``reply``/``sleep_s``/``status`` set its behaviour."""

    def __init__(self):
        self.reply: str = json.dumps({"verdict": "allow", "reasons": []})
        self.sleep_s = 0.0
        self.status = 200
        self.requests: list[dict] = []
        self.replies: list[str] = []
        """Replies served in order before falling back to ``reply``."""
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server API
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                fake.requests.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
                if fake.sleep_s:
                    time.sleep(fake.sleep_s)
                content = fake.replies.pop(0) if fake.replies else fake.reply
                payload = json.dumps(
                    {"id": "x", "object": "chat.completion", "model": body.get("model"),
                     "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                                  "finish_reason": "stop"}]}
                ).encode()
                try:
                    self.send_response(fake.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def answer(self, verdict: str, *reasons: str) -> None:
        self.reply = json.dumps({"verdict": verdict, "reasons": list(reasons)})

    def close(self) -> None:
        if self.thread.is_alive():
            self.server.shutdown()
            self.server.server_close()
            self.thread.join(timeout=5)


@pytest.fixture
def fake_llm():
    server = FakeLLM()
    yield server
    server.close()
