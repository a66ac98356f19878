"""``python -m env_server bench --http``: measure the server over real HTTP; write ``results/bench/http.json``.

It starts ``python -m env_server serve`` as a separate process on a free loopback port (one
worker), warms it, then measures from this process:

* ``/grade`` throughput in completions per second, batches of 64 debug completions (the gold and
  the broken query of sampled train tasks), with 2 batches in flight;
* the same completions graded **in-process** (``Grader.grade_query``) in the same run, so the HTTP
  overhead is a ratio;
* ``/step`` latency p50/p99 with 64 and with 256 concurrent sessions, each running its task's gold
  query, under two loads: **saturated** (every session steps back to back, so up to N requests
  wait on one worker and latency is mostly queueing) and **paced** (each session waits 0.5–1.5 s
  between steps, as an LLM agent generating its next action would). Each session's first step,
  which opens its TCP connection, is reported apart from the steady-state steps.

Numbers depend on the machine (this one has the CPU count recorded in the provenance); they are
reported, never asserted.
"""
from __future__ import annotations

import asyncio
import random
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from env_server.grading import Grader
from env_server.measure import percentile, print_results
from env_server.provenance import REPO_ROOT, provenance, write_results
from env_server.tasks.registry import load_tasks

OUT = REPO_ROOT / "results" / "bench" / "http.json"
TARGETS = {"grade_completions_per_s": (">=", 2000.0), "step_p99_ms_256_sessions": ("<=", 20.0)}
BATCH = 64


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _pct(values: list[float], q: float) -> float:
    return round(percentile(values, q), 3)


async def _grade_throughput(url: str, items: list[dict], in_flight: int = 2) -> float:
    batches = [items[i: i + BATCH] for i in range(0, len(items), BATCH)]
    queue: asyncio.Queue = asyncio.Queue()
    for batch in batches:
        queue.put_nowait(batch)

    async def worker(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            batch = queue.get_nowait()
            response = await client.post("/grade", json={"items": batch})
            response.raise_for_status()

    async with httpx.AsyncClient(base_url=url, timeout=120) as client:
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(in_flight)))
        return len(items) / (time.perf_counter() - started)


async def _step_latency(
    url: str, tasks: list, sessions: int, steps: int, paced: bool, seed: int = 0
) -> tuple[list[float], list[float]]:
    """Step latencies (ms) of ``sessions`` concurrent sessions: (each session's first step, the rest).

    The first step of a session usually opens a new TCP connection, so it is reported apart."""
    limits = httpx.Limits(max_connections=sessions, max_keepalive_connections=sessions)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
        ids = []
        for i in range(sessions):
            reset = await client.post("/reset", json={"task_id": tasks[i % len(tasks)].task_id})
            reset.raise_for_status()
            ids.append((reset.json()["session_id"], tasks[i % len(tasks)]))
        latencies: list[float] = []
        firsts: list[float] = []
        rng = random.Random(seed)

        async def play(sid: str, task) -> None:
            pauses = [rng.uniform(0.5, 1.5) for _ in range(steps)]
            for i, pause in enumerate(pauses):
                if paced:
                    await asyncio.sleep(pause)
                started = time.perf_counter()
                response = await client.post(
                    "/step", json={"action": {"action_type": "run_query", "sql": task.gold_sql}},
                    headers={"X-Session-Id": sid},
                )
                (firsts if i == 0 else latencies).append((time.perf_counter() - started) * 1000)
                response.raise_for_status()

        await asyncio.gather(*(play(sid, task) for sid, task in ids))
        await asyncio.gather(*(client.delete("/session", headers={"X-Session-Id": sid}) for sid, _ in ids))
        return firsts, latencies


def run(n_items: int = 1024, steps: int = 10, seed: int = 0, out: Path = OUT) -> Path:
    tasks = load_tasks(split="train", family="debug")
    sample = random.Random(seed).sample(tasks, n_items // 2)
    items = [{"task_id": t.task_id, "sql": sql} for t in sample for sql in (t.gold_sql, t.broken_sql)]
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    started = time.perf_counter()
    server = subprocess.Popen(
        [sys.executable, "-m", "env_server", "serve", "--port", str(port), "--session-cap", "1024"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None or time.perf_counter() - started > 30:
                raise RuntimeError("the server did not start")
            time.sleep(0.02)
        startup_s = time.perf_counter() - started
        print(f"server up in {startup_s:.2f}s; warming it (builds databases and gold results)...")
        asyncio.run(_grade_throughput(url, items))  # warm-up pass
        http_rates = [asyncio.run(_grade_throughput(url, items)) for _ in range(3)]

        latency = {}
        for load in ("paced", "saturated"):
            for sessions in (64, 256):
                firsts, values = asyncio.run(
                    _step_latency(url, sample, sessions, steps, paced=load == "paced", seed=seed)
                )
                latency[(load, sessions)] = {"p50": _pct(values, 0.5), "p99": _pct(values, 0.99), "n": len(values),
                                             "first_p50": _pct(firsts, 0.5), "first_p99": _pct(firsts, 0.99)}
                print(f"{load}, {sessions} sessions: step p50 {latency[(load, sessions)]['p50']} ms, "
                      f"p99 {latency[(load, sessions)]['p99']} ms")
        # in-process grading last: its gold-result caches would otherwise slow this process's event loop
        # (garbage collection over millions of cached rows) while it measures latency
        grader = Grader()
        by_id = {t.task_id: t for t in sample}
        for item in items:  # warm-up pass in-process too
            grader.grade_query(by_id[item["task_id"]], item["sql"])
        local_rates = []
        for _ in range(3):
            t0 = time.perf_counter()
            for item in items:
                grader.grade_query(by_id[item["task_id"]], item["sql"])
            local_rates.append(len(items) / (time.perf_counter() - t0))

    finally:
        server.terminate()
        server.wait(10)

    http_best, local_best = max(http_rates), max(local_rates)
    figures = {
        "server_startup_s": round(startup_s, 3),
        "grade_completions_per_s": round(http_best, 1),
        "grade_in_process_completions_per_s": round(local_best, 1),
        "http_over_in_process_time": round(local_best / http_best, 3),
        **{
            f"step_{q}_ms_{sessions}_sessions{'' if load == 'paced' else '_saturated'}": latency[(load, sessions)][q]
            for load in ("paced", "saturated")
            for sessions in (64, 256)
            for q in ("p50", "p99")
        },
        **{
            f"first_step_{q}_ms_{sessions}_sessions{'' if load == 'paced' else '_saturated'}":
                latency[(load, sessions)][f"first_{q}"]
            for load in ("paced", "saturated")
            for sessions in (64, 256)
            for q in ("p50", "p99")
        },
        "items": len(items),
        "batch_size": BATCH,
    }
    targets = {}
    for name, (op, value) in TARGETS.items():
        met = figures[name] >= value if op == ">=" else figures[name] <= value
        targets[name] = {"target": f"{op} {value}", "value": figures[name], "met": met}
    payload = {
        "provenance": provenance(model=None, split="train", seeds=[seed],
                                 config={"n_items": len(items), "steps_per_session": steps, "workers": 1}),
        "summary": figures,
        "targets": targets,
        "notes": "One uvicorn worker; client and server share this machine's cores. Best of 3 passes for "
        "throughput. http_over_in_process_time = time per completion over HTTP / in-process. step_* figures are "
        "paced (0.5-1.5 s between a session's steps); step_*_saturated have every session stepping back to back, "
        "so they measure queueing on one worker. The step target is checked against the paced figure. "
        "step_* exclude each session's first step, which opens its TCP connection; first_step_* report those.",
    }
    return write_results(out, payload)


def main() -> None:
    print_results(run(), REPO_ROOT)
