"""``python -m env_server bench --http``: measure the server over real HTTP; write ``results/bench/http.json``.

It starts ``python -m env_server serve`` as a separate process on a free loopback port (one
worker) and, beside it, ``serve --replicas 2``; warms both, then measures from this process, in
interleaved rounds (see :mod:`env_server.tools.measure`; every round of every figure is kept in the
JSON, each headline is the median over rounds and each ratio the median of the per-round ratios):

* ``/grade`` throughput in completions per second, batches of 64 debug completions (the gold and
  the broken query of sampled train tasks), with 2 batches in flight;
* the same completions graded **in-process** (``Grader.grade_query``) in the same round, so the HTTP
  overhead is a ratio;
* **one request of 1,024 items** (the 256 completions four times over) to ``/grade``, timed against grading the
  same 1,024 in-process at the round's in-process rate: what one large request costs over HTTP;
* ``/step`` latency p50/p99 with 64 and with 256 concurrent sessions, each running its task's gold
  query, under two loads: **saturated** (every session steps back to back, so up to N requests
  wait on one worker and latency is mostly queueing) and **paced** (each session waits 0.5–1.5 s
  between steps, as an LLM agent generating its next action would). Each session's first step,
  which opens its TCP connection, is reported apart from the steady-state steps.
* **2 replicas vs 1** (``serve --replicas 2`` against the one server): ``/grade`` throughput with 4 batches
  in flight spread over the URLs, saturated ``/step`` latency of 64 sessions each pinned to the replica that
  created it (sessions lost: any 404 counts), and the latency of one session stepping back to back on one
  kept-alive connection (a Nagle/delayed-ACK stall would show there as ~40 ms).

Numbers depend on the machine (this one has the CPU count recorded in the provenance); they are
reported, never asserted.
"""
from __future__ import annotations

import asyncio
import gc
import random
import time
from pathlib import Path

import httpx

from env_server.core.provenance import REPO_ROOT, provenance, write_results
from env_server.families import make_grader
from env_server.server.serving import free_ports, start_server
from env_server.tasks.registry import load_tasks
from env_server.tools.measure import ROUNDS, interleave, interleaving, medians, percentile, print_results, rounds_block

CAPACITY = ["--session-cap", "1024", "--sessions-per-client", "1024", "--inflight-per-client", "8"]
"""The bench is one client measuring capacity: the per-client quotas (fair sharing) raised out of its way."""

OUT = REPO_ROOT / "results" / "bench" / "http.json"
TARGETS = {"grade_completions_per_s": (">=", 2000.0), "step_p99_ms_256_sessions": ("<=", 20.0),
           "one_request_over_in_process_time": ("<=", 1.1)}
BATCH = 64
SESSIONS = (64, 256)
KEEPALIVE_S = 2.0
"""The client drops a kept-alive connection idle this long, before uvicorn's 5 s keep-alive timeout closes it
from the server's side: at httpx's default of 5 s too, a request can be sent on a connection the server is
closing (a ReadError under load)."""
ONE_CONNECTION_STEPS = 100
ONE_REQUEST_ITEMS = 1024
"""Items of the one large ``/grade`` request."""


def _pct(values: list[float], q: float) -> float:
    return round(percentile(values, q), 3)


def _warm_up(url: str, items: list[dict], patience_s: float = 600.0) -> None:
    """Grade every item on ``url`` once (not timed), waiting out ``503 warming`` (a cold database being built
    on the server, answered with Retry-After) so that no timed request meets a cold database."""
    deadline = time.monotonic() + patience_s
    with httpx.Client(base_url=url, timeout=120) as client:
        for i in range(0, len(items), BATCH):
            while True:
                response = client.post("/grade", json={"items": items[i: i + BATCH]})
                if response.status_code != 503 or b"warming" not in response.content or time.monotonic() > deadline:
                    response.raise_for_status()
                    break
                time.sleep(min(5.0, float(response.headers.get("Retry-After", 1))))


async def _grade_throughput(url: str | list[str], items: list[dict], in_flight: int = 2) -> float:
    """Completions per second through ``/grade``; ``in_flight`` workers, worker ``i`` on ``urls[i % n]``."""
    urls = [url] if isinstance(url, str) else url
    batches = [items[i: i + BATCH] for i in range(0, len(items), BATCH)]
    queue: asyncio.Queue = asyncio.Queue()
    for batch in batches:
        queue.put_nowait(batch)

    async def worker(client: httpx.AsyncClient, base: str) -> None:
        while not queue.empty():
            batch = queue.get_nowait()
            response = await client.post(f"{base}/grade", json={"items": batch})
            response.raise_for_status()

    async with httpx.AsyncClient(timeout=120, limits=httpx.Limits(keepalive_expiry=KEEPALIVE_S)) as client:
        started = time.perf_counter()
        await asyncio.gather(*(worker(client, urls[i % len(urls)]) for i in range(in_flight)))
        return len(items) / (time.perf_counter() - started)


def _one_request_s(url: str, items: list[dict]) -> float:
    """Seconds for one ``/grade`` request of ``items``, sent once, every item graded (none comes back unfinished)."""
    with httpx.Client(timeout=300) as client:
        started = time.perf_counter()
        response = client.post(f"{url}/grade", json={"items": items})
        seconds = time.perf_counter() - started
    response.raise_for_status()
    statuses = [r["status"] for r in response.json()["results"]]
    if len(statuses) != len(items) or set(statuses) != {"graded"}:
        raise RuntimeError(f"one /grade request of {len(items)} items came back with {len(statuses)} results, "
                           f"statuses {sorted(set(statuses))}: every item should be graded in the one request")
    return seconds


async def _pinned_sessions(urls: list[str], tasks: list, sessions: int, steps: int) -> dict:
    """``sessions`` sessions over ``urls`` (session ``i`` on ``urls[i % n]``) through one pooled client, stepping
    back to back: latency, and sessions lost (a 404 on a session's own replica)."""
    limits = httpx.Limits(max_connections=sessions, max_keepalive_connections=sessions, keepalive_expiry=KEEPALIVE_S)
    lost = 0
    latencies: list[float] = []
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:
        ids = []
        for i in range(sessions):
            base = urls[i % len(urls)]
            reset = await client.post(f"{base}/reset", json={"task_id": tasks[i % len(tasks)].task_id})
            reset.raise_for_status()
            ids.append((base, reset.json()["session_id"], tasks[i % len(tasks)]))

        async def play(base: str, sid: str, task) -> None:
            nonlocal lost
            for i in range(steps):
                started = time.perf_counter()
                response = await client.post(f"{base}/step", headers={"X-Session-Id": sid},
                                             json={"action": {"action_type": "run_query", "sql": task.gold_sql}})
                if i:
                    latencies.append((time.perf_counter() - started) * 1000)
                lost += response.status_code == 404

        await asyncio.gather(*(play(*entry) for entry in ids))
        await asyncio.gather(*(client.delete(f"{base}/session", headers={"X-Session-Id": sid}) for base, sid, _ in ids))
    return {"p50": _pct(latencies, 0.5), "p99": _pct(latencies, 0.99), "lost": lost}


def _one_connection_ms(url: str, task, steps: int = ONE_CONNECTION_STEPS) -> float:
    """p50 of one session stepping back to back on one kept-alive connection."""
    with httpx.Client(base_url=url, timeout=60) as client:
        sid = client.post("/reset", json={"task_id": task.task_id}).json()["session_id"]
        values = []
        for _ in range(steps):
            started = time.perf_counter()
            response = client.post("/step", headers={"X-Session-Id": sid},
                                   json={"action": {"action_type": "run_query", "sql": task.gold_sql}})
            values.append((time.perf_counter() - started) * 1000)
            response.raise_for_status()
            if response.json()["done"]:  # out of steps: a new episode in the same session (not timed)
                client.post("/reset", json={"task_id": task.task_id}, headers={"X-Session-Id": sid})
        client.delete("/session", headers={"X-Session-Id": sid})
    return _pct(values, 0.5)


def _replica_round(urls: list[str], items: list[dict], tasks: list, sessions: int, steps: int) -> dict:
    """One round of the replica comparison on ``urls``: ``/grade`` with 4 batches in flight, ``sessions`` pinned
    sessions stepping back to back, and one session stepping on one kept-alive connection."""
    rate = asyncio.run(_grade_throughput(urls, items, in_flight=4))
    pinned = asyncio.run(_pinned_sessions(urls, tasks, sessions, steps))
    return {
        "grade_completions_per_s_4_in_flight": rate,
        f"step_p50_ms_{sessions}_sessions_saturated": pinned["p50"],
        f"step_p99_ms_{sessions}_sessions_saturated": pinned["p99"],
        "sessions_lost": pinned["lost"],
        "one_connection_step_p50_ms": _one_connection_ms(urls[0], tasks[0]),
    }


async def _step_latency(
    url: str, tasks: list, sessions: int, steps: int, paced: bool, seed: int = 0
) -> tuple[list[float], list[float]]:
    """Step latencies (ms) of ``sessions`` concurrent sessions: (each session's first step, the rest).

    The first step of a session usually opens a new TCP connection, so it is reported apart."""
    limits = httpx.Limits(max_connections=sessions, max_keepalive_connections=sessions, keepalive_expiry=KEEPALIVE_S)
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


def _round_figures(got: dict, sessions: tuple[int, ...]) -> dict[str, float]:
    """One round's figures (ratios included) from what each side measured in that round."""
    figures = {
        "grade_completions_per_s": got["grade_http"],
        "grade_in_process_completions_per_s": got["grade_in_process"],
        "http_over_in_process_time": got["grade_in_process"] / got["grade_http"],
        "one_request_s": got["grade_one_request"],
        "one_request_over_in_process_time": got["grade_one_request"] / (ONE_REQUEST_ITEMS / got["grade_in_process"]),
    }
    for prefix in ("step", "first_step"):
        for load in ("paced", "saturated"):
            for n in sessions:
                firsts, values = got[f"step_{load}"][n]
                for q, level in (("p50", 0.5), ("p99", 0.99)):
                    name = f"{prefix}_{q}_ms_{n}_sessions{'' if load == 'paced' else '_saturated'}"
                    figures[name] = percentile(firsts if prefix == "first_step" else values, level)
    for replicas in ("1_replica", "2_replicas"):
        figures |= {f"replicas.{replicas}.{name}": value for name, value in got[replicas].items()}
    figures["replicas_grade_speedup"] = (got["2_replicas"]["grade_completions_per_s_4_in_flight"]
                                         / got["1_replica"]["grade_completions_per_s_4_in_flight"])
    return figures


def run(n_items: int = 256, steps: int = 4, rounds: int = ROUNDS, seed: int = 0, out: Path = OUT,
        sessions: tuple[int, ...] = SESSIONS, pinned_sessions: int = 64) -> Path:
    """Start one server and ``serve --replicas 2`` side by side, run the sides in interleaved rounds, and
    write ``out``."""
    tasks = load_tasks(split="train", family="debug")
    sample = random.Random(seed).sample(tasks, n_items // 2)
    items = [{"task_id": t.task_id, "sql": sql} for t in sample for sql in (t.gold_sql, t.broken_sql)]
    one_request = (items * -(-ONE_REQUEST_ITEMS // len(items)))[:ONE_REQUEST_ITEMS]
    port = free_ports(1)
    url = f"http://127.0.0.1:{port}"
    started = time.perf_counter()
    servers = [start_server(["--port", str(port), *CAPACITY], [url])]
    startup_s = time.perf_counter() - started
    try:
        base = free_ports(2)
        urls_2 = [f"http://127.0.0.1:{base + i}" for i in range(2)]
        servers.append(start_server(["--port", str(base), *CAPACITY, "--replicas", "2"], urls_2))
        print(f"server up in {startup_s:.2f}s; warming it and the 2 replicas (builds databases and gold results)...")
        for each in (url, *urls_2):  # every replica builds its own databases
            _warm_up(each, items)
        grader = make_grader()
        by_id = {t.task_id: t for t in sample}
        for item in items:  # warm-up pass in-process too
            grader.grade_query(by_id[item["task_id"]], item["sql"])
        # the in-process grader's gold-result caches live in this process, beside the HTTP client's event loop:
        # frozen, the garbage collector does not walk millions of cached rows while latency is measured
        gc.collect()
        gc.freeze()

        def in_process() -> float:
            t0 = time.perf_counter()
            for item in items:
                grader.grade_query(by_id[item["task_id"]], item["sql"])
            return len(items) / (time.perf_counter() - t0)

        def step_load(paced: bool):
            return lambda: {n: asyncio.run(_step_latency(url, sample, n, steps, paced=paced, seed=seed))
                            for n in sessions}

        done = interleave({
            "grade_http": lambda: asyncio.run(_grade_throughput(url, items)),
            "grade_in_process": in_process,
            "grade_one_request": lambda: _one_request_s(url, one_request),
            "step_paced": step_load(True),
            "step_saturated": step_load(False),
            "1_replica": lambda: _replica_round([url], items, sample, pinned_sessions, steps),
            "2_replicas": lambda: _replica_round(urls_2, items, sample, pinned_sessions, steps),
        }, rounds, progress=lambda i: print(f"round {i + 1}/{rounds} done"))
    finally:
        gc.unfreeze()
        for proc in servers:
            proc.terminate()
        for proc in servers:
            proc.wait(20)

    per_round = [_round_figures(done.round(i), sessions) for i in range(done.rounds)]
    block = rounds_block(per_round)
    headline = medians(block)
    lost = {replicas: sum(done.results[replicas][i]["sessions_lost"] for i in range(done.rounds))
            for replicas in ("1_replica", "2_replicas")}
    replicas = {r: {name.split(".", 2)[2]: value for name, value in headline.items() if name.startswith(f"replicas.{r}.")}
                | {"sessions_lost": lost[r]} for r in ("1_replica", "2_replicas")}
    figures = {
        "server_startup_s": round(startup_s, 3),
        **{name: value for name, value in headline.items() if not name.startswith("replicas")},
        "items": len(items),
        "batch_size": BATCH,
        "one_request_items": ONE_REQUEST_ITEMS,
        "replicas_grade_speedup": headline["replicas_grade_speedup"],
        "replicas_sessions_lost": lost["2_replicas"],
        "replicas_one_connection_step_p50_ms": replicas["2_replicas"]["one_connection_step_p50_ms"],
    }
    targets = {}
    for name, (op, value) in TARGETS.items():
        if name not in figures:
            continue
        met = figures[name] >= value if op == ">=" else figures[name] <= value
        targets[name] = {"target": f"{op} {value}", "value": figures[name], "met": met}
    payload = {
        "provenance": provenance(model=None, split="train", seeds=[seed],
                                 config={"n_items": len(items), "steps_per_session": steps, "workers": 1,
                                         "rounds": rounds, "sessions": list(sessions),
                                         "pinned_sessions": pinned_sessions,
                                         "one_connection_steps": ONE_CONNECTION_STEPS}),
        "summary": figures,
        "replicas": replicas,
        "rounds": block,
        "interleaving": interleaving(done),
        "targets": targets,
        "notes": "One uvicorn worker; client and server share this machine's cores. Both servers (one, and "
        "`serve --replicas 2`) run for the whole bench; the sides run in interleaved rounds (interleaving.order): "
        "/grade over HTTP, the same completions in-process, paced then saturated /step loads, then the replica "
        "comparison on one server and on 2 replicas. Every headline figure is the median over rounds, every ratio "
        "the median of the per-round ratios (rounds.<figure> holds each round; rounds.replicas.<n>.<figure> the "
        "replica figures). http_over_in_process_time = time per completion over HTTP / in-process. "
        "one_request_over_in_process_time = the seconds of one /grade request of one_request_items items (the "
        "bench's completions repeated) / the same number of completions at the round's in-process rate. "
        "step_* figures are paced (0.5-1.5 s between a session's steps); step_*_saturated have every session "
        "stepping back to back, so they measure queueing on one worker. The step target is checked against the "
        "paced figure. step_* exclude each session's first step, which opens its TCP connection; first_step_* "
        "report those. replicas.*.sessions_lost and replicas_sessions_lost are totals over all rounds. On a "
        "2-core machine the client shares the cores with both replicas, so the replica speedup is bounded by that.",
    }
    return write_results(out, payload)


def main(rounds: int = ROUNDS) -> None:
    print_results(run(rounds=rounds), REPO_ROOT)
