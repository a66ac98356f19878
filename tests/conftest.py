"""Shared fixtures: a real env server on a free loopback port (uvicorn on a thread), a tiny local model,
and a scripted OpenAI-compatible chat server on loopback.

Also how ``make test`` spreads the suite over CPUs (pytest-xdist, ``-n 2 --dist loadfile``): each file runs on one
worker (its module fixtures are built once), except the files that hold a real server to wall-clock bounds
(``TIMED``), which run one after another as one unit so that two of them never load the machine at once; the
files that take longest go first (``LONGEST_FIRST``), so that the short ones fill in at the end. Under xdist
each worker's torch uses one thread (two workers on two cores, each with two spinning threads, mostly wait)."""
from __future__ import annotations

import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

if int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) > 1:  # set by xdist before this file is imported
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # read when torch is first imported

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
    """A tiny random Llama with the embedded model's tokenizer, built locally (no download, ~5 s); under xdist,
    built once per run by whichever worker asks first, in the run's temporary folder the workers share."""
    from filelock import FileLock

    from training.embedded_model import tiny_model_dir

    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return str(tiny_model_dir(tmp_path_factory.mktemp("tiny-model")))
    shared = tmp_path_factory.getbasetemp().parent  # this run's folder, above each worker's own
    out, done = shared / "tiny-model", shared / "tiny-model.done"
    with FileLock(str(shared / "tiny-model.lock")):
        if not done.exists():
            tiny_model_dir(out)
            done.touch()
    return str(out)


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


# -- spreading the suite over CPUs (pytest-xdist) -----------------------------------------------------------------

TIMED = frozenset({"test_hostile.py", "test_fairness.py", "test_server_reliability.py", "test_server_budgets.py"})
"""Files that hold a real server to wall-clock bounds under attack: one unit of work, run one file after another."""

LONGEST_FIRST = ("TIMED", "test_grpo.py", "test_committed_adapters.py", "test_notebooks.py", "test_build_data.py",
                 "test_byo_real.py", "test_embedded_model.py", "test_demo.py", "test_sft.py", "test_policies.py",
                 "test_run_store.py", "test_cluster_stats.py", "test_evaluate.py", "test_corruptions.py",
                 "test_quality.py", "test_grading.py", "test_execution.py", "test_debug_tasks.py",
                 "test_bench_scale.py", "test_exploits.py", "test_client.py")
"""Units of work by CPU time, longest first (measured; a stale order only costs balance, never a test)."""


def _unit(path: str) -> str:
    """The unit of work a test file belongs to: ``TIMED`` for the timed files, else the file itself."""
    return "TIMED" if Path(path).name in TIMED else path


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """On an xdist worker, order the files as ``LONGEST_FIRST`` says (the timed files together), keeping each
    file's tests in their order; the controller hands out files in this order."""
    if not hasattr(config, "workerinput"):
        return
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    first_seen: dict[str, int] = {}
    for i, item in enumerate(items):
        first_seen.setdefault(_unit(item.nodeid.split("::", 1)[0]), i)

    def key(item) -> tuple[int, int]:
        unit = _unit(item.nodeid.split("::", 1)[0])
        return rank.get(unit if unit == "TIMED" else Path(unit).name, len(rank)), first_seen[unit]

    items.sort(key=key)  # stable: a file's tests keep their order


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """``--dist loadfile``, with the ``TIMED`` files as one unit and the units in collection order (as ordered
    above) rather than by their number of tests."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class LoadFileTimedTogether(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return _unit(nodeid.split("::", 1)[0])

    config.option.loadscopereorder = False
    return LoadFileTimedTogether(config, log)
