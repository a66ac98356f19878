"""``python -m env_server bench --hostile``: every attack class tried against a real server; write
``results/bench/hostile.json``.

It starts ``python -m env_server serve`` as a separate process on a free loopback port, with one extra
task whose database file does not exist, then plays each attack class over HTTP and records, per
class: the calls tried, the slowest answer, the number of 5xx answers, and what the attack earned
where it is a reward hack (the most reward any attempt got). After all classes it checks the server
is still healthy, reads its resident memory (``/proc``) before and after, and times how long SIGTERM
takes to stop it.

Classes
    shadowing        TEMP views/tables standing in for the tables to repair, then finish
    endless_view     a view over an endless recursive CTE, then inspect_schema, finish, DELETE /session
    odd_names        tables named with quotes and spaces, then inspect_schema, sample_rows, finish
    non_finite       results holding Infinity and NaN over /step and /grade
    nan_body         NaN / Infinity in request bodies
    printf_width     printf('%.*c', 2147483647, 'x') and relatives over /step and /grade
    reviewer_size    a 6,000-term expression reviewed (/review and /step_with_review)
    big_body         a chunked 50 MB /grade body and a Content-Length that lies
    grade_batch      1,000 hostile items in one /grade
    repair_script    a repair script of 50 statements that each exhaust their budget
    missing_db       /reset and /grade on a task whose database file is missing
    openenv_routes   OpenEnv's task-registry routes
    close_during_work  DELETE /session while the session runs a statement
    review_2mb       a 2 MB /review (135 400-join queries) and 1,000 JOIN-without-ON queries, a victim's /grade beside
    invalid_text     lone surrogates and invalid UTF-8 in every route's fields, paths and headers (the step count after)
    session_lockout  600 /reset from one address, then a victim's /reset from another (127.0.0.2)
    grade_inflight   a victim's /grade (the class's call) beside 8 concurrent heavy /grade from another address
    busy_sessions    a victim's step (the class's call) beside 32 sessions of another address each running a
                     statement to its limit
    benchmark_n      GET /benchmark?n=500, n=50, and from a client behind a local proxy
    ws_message_size  a 5 MB WebSocket message, then a lone surrogate in one

Numbers depend on the machine (recorded in the provenance). The floor is :func:`budget_floor_s`: one
statement exhausting the grading step budget in-process, on a bare sandbox connection, measured in the
same run. Grading budgets are VM steps (the same grade on every machine), so how long one exhaustion
takes is the machine's, and each class's slowest answer is also reported against it
(``slowest_vs_budget``). Tests assert the properties against that floor (tests/test_hostile.py).

Size: over 600 lines because it is a catalogue: one short function per attack class, registered in ``ATTACKS``
and listed above; they share the recorder and the server harness, and read best top to bottom in one file.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

import httpx

from env_server.core.provenance import REPO_ROOT, provenance, write_results
from env_server.core.sandbox import SandboxConfig, execute, harden, new_connection

OUT = REPO_ROOT / "results" / "bench" / "hostile.json"
DEBUG_TASK = "debug-fixed-syntax_fix"
REPAIR_TASKS = (
    "repair-fixed-dedupe_customers", "repair-fixed-normalise_users", "repair-fixed-impute_employees",
    "repair-fixed-orphans_monthly_revenue", "repair-fixed-migrate_legacy_orders",
)
MISSING_TASK = "debug-hostile-missing_db"
ENDLESS = "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r) SELECT i FROM r"
HEAVY = "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r) SELECT COUNT(*) FROM r"


class Recorder:
    """Calls of one attack class: elapsed seconds and status codes, and the best reward a hack earned."""

    def __init__(self) -> None:
        self.elapsed: list[float] = []
        self.statuses: list[int] = []
        self.rewards: list[float] = []
        self.notes: list[str] = []
        self.extra: dict[str, Any] = {}
        """Figures of the class beyond its calls (e.g. the attacker's own time beside a victim's calls)."""

    def call(self, fn: Callable[[], httpx.Response]) -> httpx.Response | None:
        started = time.perf_counter()
        try:
            response = fn()
            status = response.status_code
        except Exception as exc:  # noqa: BLE001 - e.g. the server closing a connection whose body it refused
            response, status = None, 0
            self.notes.append(f"transport: {type(exc).__name__}")
        self.elapsed.append(time.perf_counter() - started)
        self.statuses.append(status)
        return response

    def summary(self) -> dict[str, Any]:
        return {
            "calls": len(self.elapsed),
            "slowest_s": round(max(self.elapsed), 3) if self.elapsed else 0.0,
            "server_errors_5xx": sum(500 <= s < 600 and s != 503 for s in self.statuses),
            "unavailable_503": sum(s == 503 for s in self.statuses),
            "statuses": sorted(set(self.statuses)),
            **({"max_reward": round(max(self.rewards), 4)} if self.rewards else {}),
            **({"notes": sorted(set(self.notes))} if self.notes else {}),
            **self.extra,
        }


def _episode(http: httpx.Client, rec: Recorder, task_id: str, actions: list[dict], finish: bool = True) -> None:
    reset = rec.call(lambda: http.post("/reset", json={"task_id": task_id}))
    if reset is None or reset.status_code != 200:
        return
    sid = reset.json()["session_id"]
    headers = {"X-Session-Id": sid}
    last = None
    for action in actions + ([{"action_type": "finish"}] if finish else []):
        last = rec.call(lambda a=action: http.post("/step", json={"action": a}, headers=headers))
    if last is not None and last.status_code == 200 and last.json().get("done"):
        rec.rewards.append(float(last.json()["metadata"]["episode_return"]))
    rec.call(lambda: http.delete("/session", headers=headers))


def _sql(sql: str, kind: str = "execute_sql") -> dict:
    return {"action_type": kind, "sql": sql}


def attack_shadowing(http: httpx.Client, rec: Recorder) -> None:
    _episode(http, rec, "repair-fixed-dedupe_customers", [_sql(
        "CREATE TEMP VIEW customers AS SELECT * FROM main.customers WHERE id IN "
        "(SELECT MIN(id) FROM main.customers GROUP BY email)")])
    for task in REPAIR_TASKS:
        tables = ["customers", "users", "employees", "invoices", "legacy_orders", "current_orders", "orders"]
        _episode(http, rec, task, [_sql(f"CREATE TEMP TABLE {t} AS SELECT * FROM main.{t}") for t in tables]
                 + [_sql(f"CREATE TABLE temp.{t} AS SELECT * FROM main.{t}") for t in tables]
                 + [_sql(f"CREATE TEMP VIEW {t} AS SELECT * FROM main.{t}") for t in tables])


def attack_endless_view(http: httpx.Client, rec: Recorder) -> None:
    _episode(http, rec, "repair-fixed-dedupe_customers", [
        _sql(f"CREATE VIEW forever AS {ENDLESS}"), {"action_type": "inspect_schema"},
        {"action_type": "sample_rows", "table": "forever"}])


def attack_odd_names(http: httpx.Client, rec: Recorder) -> None:
    _episode(http, rec, "repair-fixed-dedupe_customers", [
        _sql('CREATE TABLE "x""y" (a)'), _sql('CREATE TABLE "with space" (a)'), _sql('CREATE VIEW "v""w" AS SELECT 1'),
        {"action_type": "inspect_schema"}, {"action_type": "sample_rows", "table": 'x"y'}])


def attack_non_finite(http: httpx.Client, rec: Recorder) -> None:
    queries = ["SELECT 1e999", "SELECT -1e999, 1e999 - 1e999", "SELECT 1e308 * 10 AS inf"]
    _episode(http, rec, DEBUG_TASK, [_sql(q, "run_query") for q in queries] + [_sql(queries[0], "submit_query")],
             finish=False)
    for q in queries:
        rec.call(lambda q=q: http.post("/grade", json={"items": [{"task_id": DEBUG_TASK, "sql": q}]}))


def attack_nan_body(http: httpx.Client, rec: Recorder) -> None:
    reset = rec.call(lambda: http.post("/reset", json={"task_id": DEBUG_TASK}))
    sid = reset.json()["session_id"] if reset is not None and reset.status_code == 200 else "none"
    raw = {"headers": {"X-Session-Id": sid, "content-type": "application/json"}}
    for body in ['{"action": {"action_type": "run_query", "sql": "SELECT 1"}, "timeout_s": NaN}',
                 '{"action": {"action_type": "run_query", "sql": "SELECT 1"}, "timeout_s": Infinity}']:
        rec.call(lambda b=body: http.post("/step", content=b, **raw))
    rec.call(lambda: http.post("/grade", content='{"items": [{"task_id": "analyst-fixed-top_category_q3", "answer": NaN}]}',
                               headers={"content-type": "application/json"}))
    rec.call(lambda: http.post("/reset", content='{"seed": -Infinity}', headers={"content-type": "application/json"}))
    rec.call(lambda: http.delete("/session", headers={"X-Session-Id": sid}))


def attack_printf_width(http: httpx.Client, rec: Recorder) -> None:
    queries = ["SELECT printf('%.*c', 2147483647, 'x')", "SELECT format('%!.*c', 2147483647, 'x')",
               "SELECT printf('%.*c%.*c%.*c', 2147483647, 'x', 2147483647, 'y', 2147483647, 'z')"]
    _episode(http, rec, DEBUG_TASK, [_sql(q, "run_query") for q in queries], finish=False)
    rec.call(lambda: http.post("/grade", json={"items": [{"task_id": DEBUG_TASK, "sql": q} for q in queries]}))


def attack_reviewer_size(http: httpx.Client, rec: Recorder) -> None:
    plus = "SELECT " + " + ".join(["price"] * 6000) + " FROM products"
    ors = "SELECT * FROM users WHERE " + " OR ".join(f"id = {i}" for i in range(2500))
    for sql in (plus, ors):
        rec.call(lambda s=sql: http.post("/review", json={"items": [{"task_id": DEBUG_TASK, "sql": s}]}))
    reset = rec.call(lambda: http.post("/reset", json={"task_id": DEBUG_TASK}))
    if reset is not None and reset.status_code == 200:
        sid = reset.json()["session_id"]
        rec.call(lambda: http.post("/step_with_review", json={"action": _sql(plus, "run_query")},
                                   headers={"X-Session-Id": sid}))
        rec.call(lambda: http.delete("/session", headers={"X-Session-Id": sid}))


def attack_big_body(http: httpx.Client, rec: Recorder) -> None:
    def chunks():
        yield b'{"items": [{"task_id": "' + DEBUG_TASK.encode() + b'", "sql": "SELECT 1 --'
        for _ in range(50):
            yield b"x" * 1_000_000
        yield b'"}]}'

    rec.call(lambda: http.post("/grade", content=chunks(), headers={"content-type": "application/json"}))
    host, port = http.base_url.host, http.base_url.port
    started = time.perf_counter()
    with socket.create_connection((host, port), timeout=10) as raw:  # a Content-Length far above what is sent
        raw.sendall(b"POST /grade HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    b"Content-Length: 99999999999\r\n\r\n{\"items\": [")
        head = raw.recv(200).decode(errors="replace")
    rec.elapsed.append(time.perf_counter() - started)
    rec.statuses.append(int(head.split()[1]) if head.startswith("HTTP/") else 0)


CHEAP_HOSTILE = ("ATTACH DATABASE '/tmp/x.db' AS x", "PRAGMA writable_schema = 1", "SELECT load_extension('/tmp/e.so')",
                 "SELECT 1; DELETE FROM users", "DELETE FROM users", "SELECT printf('%.*c', 2147483647, 'x')",
                 "SELEC 1", "SELECT * FROM no_such_table")


def attack_grade_batch(http: httpx.Client, rec: Recorder) -> None:
    """1,000 hostile items in one /grade, one of which exhausts its whole step budget: every item is graded
    (in parallel, each within its own budget), none is left to send again."""
    items = [{"task_id": DEBUG_TASK, "sql": HEAVY if i == 500 else CHEAP_HOSTILE[i % len(CHEAP_HOSTILE)]}
             for i in range(1000)]
    response = rec.call(lambda: http.post("/grade", json={"items": items}))
    if response is not None and response.status_code == 200:
        statuses = [r["status"] for r in response.json()["results"]]
        rewards = [r["reward"] for r in response.json()["results"] if r["reward"] is not None]
        rec.rewards.append(max(rewards))
        rec.notes.append(f"graded {statuses.count('graded')} of {len(items)}")


def attack_repair_script(http: httpx.Client, rec: Recorder) -> None:
    script = ";\n".join(f"UPDATE customers SET name = name WHERE id IN ({HEAVY})" for _ in range(50))
    response = rec.call(lambda: http.post("/grade", json={"items": [{"task_id": "repair-fixed-dedupe_customers",
                                                                      "sql": script}]}))
    if response is not None and response.status_code == 200:
        rec.rewards.append(float(response.json()["results"][0]["reward"]))


def attack_missing_db(http: httpx.Client, rec: Recorder) -> None:
    rec.call(lambda: http.post("/reset", json={"task_id": MISSING_TASK}))
    response = rec.call(lambda: http.post("/grade", json={"items": [
        {"task_id": MISSING_TASK, "sql": "SELECT 1"}, {"task_id": DEBUG_TASK, "sql": "SELECT 1"}]}))
    if response is not None and response.status_code == 200:
        rec.notes.append("per item: " + ", ".join(r["status"] for r in response.json()["results"]))


def attack_openenv_routes(http: httpx.Client, rec: Recorder) -> None:
    for method, path in (("GET", "/dataops_gym/splits"), ("POST", "/dataops_gym/tasks"), ("POST", "/dataops_gym/task"),
                         ("POST", "/dataops_gym/num_tasks"), ("POST", "/dataops_gym/task_range")):
        rec.call(lambda m=method, p=path: http.request(m, p, json={}))


def attack_close_during_work(http: httpx.Client, rec: Recorder) -> None:
    reset = rec.call(lambda: http.post("/reset", json={"task_id": DEBUG_TASK}))
    if reset is None or reset.status_code != 200:
        return
    sid = reset.json()["session_id"]
    url = str(http.base_url)
    worker = threading.Thread(target=lambda: httpx.post(f"{url}/step", json={"action": _sql(HEAVY, "run_query")},
                                                        headers={"X-Session-Id": sid}, timeout=30))
    worker.start()
    time.sleep(0.1)
    rec.call(lambda: http.delete("/session", headers={"X-Session-Id": sid}))
    worker.join(30)
    rec.call(lambda: http.get("/health"))


LOOK_ALIKE_TASKS = ("repair-broker-r0-legacy_migration-sbticker", "repair-fixed-dedupe_customers",
                    "repair-fixed-normalise_users")
LONG_STEPS_BOMB = (  # every VM step works on a 400 KB string: runs until the grading safety net, not its budget
    "WITH RECURSIVE r(i, s) AS (SELECT 1, hex(zeroblob(200000)) UNION ALL SELECT i + 1, s FROM r LIMIT 100000000) "
    "SELECT count(*) FROM r WHERE s LIKE '%0%0%0%0%0%0%0%0%0%0%1%'"
)


def attack_look_alike(http: httpx.Client, rec: Recorder) -> None:
    """Each table to repair copied under a look-alike name (Kelvin sign, long s, ligature, fullwidth, zero-width,
    trailing space), the reference repair run on the copy, ``finish``: the real table stays corrupted."""
    from env_server.core.identifiers import fold
    from env_server.families import make_grader
    from env_server.tasks.registry import load_tasks
    from env_server.tools.exploits import LOOK_ALIKES, Context, _changed_tables, _renamed

    tasks = {t.task_id: t for t in load_tasks() if t.task_id in LOOK_ALIKE_TASKS}
    ctx = Context(grader=make_grader())
    for task_id in LOOK_ALIKE_TASKS:
        task = tasks[task_id]
        start = ctx.grader.repair_target(task, 0)[0]
        names = {fold(t): t for t in ctx.grader.databases.schema(task.db).table_names}
        for make in LOOK_ALIKES.values():
            renames = {fold(t): make(names[fold(t)]) for t, _ in _changed_tables(task, ctx)
                       if t in start and make(names[fold(t)]) is not None}
            if not renames:
                continue
            actions = [_sql(f'CREATE TABLE "{look.replace(chr(34), chr(34) * 2)}" AS SELECT * FROM main."{names[key]}"')
                       for key, look in renames.items()]
            actions += [_sql(_renamed(statement, renames)) for statement in task.gold_repair_sql or []]
            _episode(http, rec, task_id, actions)


def attack_victim_beside_slow_item(http: httpx.Client, rec: Recorder) -> None:
    """An attacker's /grade item whose steps are expensive runs (until the safety net: not graded) while a victim
    grades the gold query of the same task again and again: the victim's calls are this class's calls."""
    from env_server.tasks.registry import load_tasks

    gold = next(t for t in load_tasks() if t.task_id == DEBUG_TASK).gold_sql
    url, attacker = str(http.base_url), {}

    def attack() -> None:
        started = time.perf_counter()
        answer = httpx.post(f"{url}/grade", json={"items": [{"task_id": DEBUG_TASK, "sql": LONG_STEPS_BOMB}]},
                            timeout=120)
        attacker["seconds"] = time.perf_counter() - started
        attacker["result"] = answer.json()["results"][0] if answer.status_code == 200 else {"status": answer.status_code}

    thread = threading.Thread(target=attack)
    thread.start()
    time.sleep(0.3)
    while thread.is_alive():
        response = rec.call(lambda: http.post("/grade", json={"items": [{"task_id": DEBUG_TASK, "sql": gold}]}))
        if response is not None and response.status_code == 200 and response.json()["results"][0]["reward"] != 1.0:
            rec.notes.append("the victim's correct query was not rewarded 1.0")
        time.sleep(0.2)
    thread.join()
    result = attacker.get("result", {})
    rec.extra = {"attacker_s": round(attacker.get("seconds", float("nan")), 3),
                 "attacker_status": f"{result.get('status')}/{result.get('cause')}",
                 "victim_calls_while_attacked": len(rec.elapsed)}


JOIN_400 = "SELECT * FROM users u0 " + " ".join(f"JOIN users u{i} ON u{i}.id = u{i - 1}.id" for i in range(1, 400))
CROSS_20 = "SELECT * FROM users u0 " + " ".join(f"JOIN users u{i}" for i in range(1, 21))
VICTIM_ADDRESS = "127.0.0.2"
"""The victim's source address: another client on loopback (Linux routes all of 127.0.0.0/8 to lo)."""


def _victim(http: httpx.Client) -> httpx.Client:
    return httpx.Client(base_url=http.base_url, timeout=60, transport=httpx.HTTPTransport(local_address=VICTIM_ADDRESS))


def _beside(attack: Callable[[], None], victim_call: Callable[[], httpx.Response], victim: Recorder,
            delay_s: float = 0.3) -> None:
    """Run ``attack`` on a thread and, ``delay_s`` in, one victim call recorded in ``victim``."""
    thread = threading.Thread(target=attack)
    thread.start()
    time.sleep(delay_s)
    victim.call(victim_call)
    thread.join(120)


def _in_parallel(calls: list[Callable[[], None]]) -> None:
    threads = [threading.Thread(target=call) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)


def attack_review_2mb(http: httpx.Client, rec: Recorder) -> None:
    body = json.dumps({"items": [{"task_id": DEBUG_TASK, "sql": JOIN_400}] * 135})
    cross = {"items": [{"task_id": DEBUG_TASK, "sql": CROSS_20}] * 1000}
    one = {"items": [{"task_id": DEBUG_TASK, "sql": "SELECT 1"}]}
    with _victim(http) as victim:
        victim.post("/grade", json=one)

        def attack() -> None:
            raw = {"content-type": "application/json"}
            for response in (rec.call(lambda: http.post("/review", content=body, headers=raw)),
                             rec.call(lambda: http.post("/review", json=cross))):
                if response is not None and response.status_code == 200:
                    states = [r["status"] for r in response.json()["results"]]
                    rec.notes.append(f"reviewed {states.count('reviewed')} of {len(states)}, the rest not_reviewed")

        beside = Recorder()
        _beside(attack, lambda: victim.post("/grade", json=one), beside)
    rec.extra = {"victim": beside.summary(), "body_bytes": len(body)}


def attack_invalid_text(http: httpx.Client, rec: Recorder) -> None:
    bad, raw = "\\udc80", {"content-type": "application/json"}
    sid = http.post("/reset", json={"task_id": DEBUG_TASK}).json()["session_id"]
    session = {**raw, "X-Session-Id": sid}
    bodies = [("/reset", '{"episode_id": "%s"}' % bad), ("/reset", '{"task_id": "%s"}' % bad),
              ("/step", '{"action": {"action_type": "run_query", "sql": "SELECT \'%s\'"}}' % bad),
              ("/step_with_review", '{"action": {"action_type": "run_query", "sql": "SELECT \'%s\'"}}' % bad),
              ("/step", '{"action": {"action_type": "submit_query", "sql": "SELECT 1"}, "request_id": "%s"}' % bad),
              ("/grade", '{"items": [{"task_id": "%s", "sql": "SELECT \'%s\'"}]}' % (DEBUG_TASK, bad)),
              ("/review", '{"items": [{"task_id": "%s", "sql": "SELECT x%s FROM users"}]}' % (DEBUG_TASK, bad)),
              ("/mcp", '{"jsonrpc": "2.0", "id": 1, "method": "%s"}' % bad)]
    for path, body in bodies:
        rec.call(lambda p=path, b=body: http.post(p, content=b, headers=session))
        rec.call(lambda p=path: http.post(p, content=b'{"task_id": "\xff\xfe"}', headers=session))
    for url in ("/tasks/%ED%B2%80", "/tasks?family=%FF"):
        rec.call(lambda u=url: http.get(u))
    rec.call(lambda: http.get("/state", headers={"X-Session-Id": b"\xff\xfe"}))
    state = http.get("/state", headers={"X-Session-Id": sid}).json()
    rec.extra = {"step_count_after": state["step_count"], "episode_return_after": state["episode_return"]}
    http.delete("/session", headers={"X-Session-Id": sid})


def attack_session_lockout(http: httpx.Client, rec: Recorder) -> None:
    sids = []
    for _ in range(600):
        response = rec.call(lambda: http.post("/reset", json={"task_id": DEBUG_TASK}))
        if response is not None and response.status_code == 200:
            sids.append(response.json()["session_id"])
    refused = rec.statuses.count(429)
    with _victim(http) as victim:
        started = time.perf_counter()
        answer = victim.post("/reset", json={"task_id": DEBUG_TASK})
        rec.extra = {"attacker_sessions": len(sids), "attacker_refused_429": refused,
                     "victim": {"status": answer.status_code, "seconds": round(time.perf_counter() - started, 3)}}
        if answer.status_code == 200:
            victim.delete("/session", headers={"X-Session-Id": answer.json()["session_id"]})
    for sid in sids:
        http.delete("/session", headers={"X-Session-Id": sid})


def attack_grade_inflight(http: httpx.Client, rec: Recorder) -> None:
    """The victim's /grade is this class's call; the attacker's own calls (which queue behind each other, and are
    refused past its in-flight quota) are in ``attacker``."""
    items, url, attacker = {"items": [{"task_id": DEBUG_TASK, "sql": HEAVY}] * 4}, str(http.base_url).rstrip("/"), Recorder()
    one = {"items": [{"task_id": DEBUG_TASK, "sql": "SELECT 1"}]}
    with _victim(http) as victim:
        victim.post("/grade", json=one)
        _beside(lambda: _in_parallel([lambda: attacker.call(lambda: httpx.post(f"{url}/grade", json=items, timeout=120))]
                                     * 8), lambda: victim.post("/grade", json=one), rec)
    rec.extra = {"attacker": attacker.summary(), "attacker_refused_429": attacker.statuses.count(429)}


def attack_busy_sessions(http: httpx.Client, rec: Recorder) -> None:
    """The victim's step is this class's call; the attacker's 32 steps (which share the workers among themselves
    once the victim is served) are in ``attacker``."""
    attacker, url = Recorder(), str(http.base_url).rstrip("/")
    sids = [r.json()["session_id"] for r in (attacker.call(lambda: http.post("/reset", json={"task_id": DEBUG_TASK}))
                                             for _ in range(32)) if r is not None and r.status_code == 200]
    slow = {"action": _sql(HEAVY, "run_query")}
    steps = [lambda s=sid: attacker.call(lambda: httpx.post(f"{url}/step", json=slow, headers={"X-Session-Id": s},
                                                            timeout=120)) for sid in sids]
    with _victim(http) as victim:
        vid = victim.post("/reset", json={"task_id": DEBUG_TASK}).json()["session_id"]
        _beside(lambda: _in_parallel(steps), lambda: victim.post(
            "/step", json={"action": _sql("SELECT 1", "run_query")}, headers={"X-Session-Id": vid}), rec)
        victim.delete("/session", headers={"X-Session-Id": vid})
    for sid in sids:
        http.delete("/session", headers={"X-Session-Id": sid})
    rec.extra = {"attacker": attacker.summary()}


def attack_benchmark_n(http: httpx.Client, rec: Recorder) -> None:
    rec.call(lambda: http.get("/benchmark", params={"n": 500}))
    response = rec.call(lambda: http.get("/benchmark", params={"n": 50}))
    if response is not None and response.status_code == 200:
        rec.notes.append(f"n=50 timed {response.json()['n']} tasks within its budget")
    rec.call(lambda: http.get("/benchmark", params={"n": 5}, headers={"X-Forwarded-For": "203.0.113.9"}))


def attack_ws_message_size(http: httpx.Client, rec: Recorder) -> None:
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    ws_url = str(http.base_url).rstrip("/").replace("http://", "ws://") + "/ws"
    started = time.perf_counter()
    try:
        with connect(ws_url, max_size=None) as ws:
            ws.send(json.dumps({"type": "reset", "data": {"task_id": DEBUG_TASK, "episode_id": "x" * 5_000_000}}))
            ws.recv(timeout=30)
            rec.extra["ws_5mb"] = "accepted"
    except ConnectionClosed as exc:
        rec.extra["ws_5mb"] = f"closed {exc.rcvd.code if exc.rcvd else None}: {exc.rcvd.reason if exc.rcvd else ''}"
    rec.elapsed.append(time.perf_counter() - started)
    started = time.perf_counter()
    with connect(ws_url, max_size=None) as ws:
        ws.send('{"type": "reset", "data": {"task_id": "\\udc80"}}')
        reply = json.loads(ws.recv(timeout=30))
        rec.extra["ws_surrogate"] = f"{reply['type']}: {reply['data'].get('code')}"
    rec.elapsed.append(time.perf_counter() - started)


ATTACKS: dict[str, Callable[[httpx.Client, Recorder], None]] = {
    "shadowing": attack_shadowing, "endless_view": attack_endless_view, "odd_names": attack_odd_names,
    "non_finite": attack_non_finite, "nan_body": attack_nan_body, "printf_width": attack_printf_width,
    "reviewer_size": attack_reviewer_size, "big_body": attack_big_body, "grade_batch": attack_grade_batch,
    "repair_script": attack_repair_script, "missing_db": attack_missing_db, "openenv_routes": attack_openenv_routes,
    "close_during_work": attack_close_during_work,
    "look_alike": attack_look_alike, "victim_beside_slow_item": attack_victim_beside_slow_item,
    "review_2mb": attack_review_2mb, "invalid_text": attack_invalid_text, "session_lockout": attack_session_lockout,
    "grade_inflight": attack_grade_inflight, "busy_sessions": attack_busy_sessions,
    "benchmark_n": attack_benchmark_n, "ws_message_size": attack_ws_message_size,
}


def budget_floor_s(config: SandboxConfig | None = None) -> float:
    """Seconds one statement takes to exhaust the grading step budget in-process, on a bare hardened
    connection (no server, no grader): the least any answer that hits the budget once can take here."""
    config = config or SandboxConfig()
    conn = harden(new_connection(), config)
    try:
        started = time.perf_counter()
        execution = execute(conn, HEAVY, mode="read", config=config, purpose="grading")
        elapsed = time.perf_counter() - started
    finally:
        conn.close()
    if execution.error_kind is None or execution.error_kind.value != "timeout":
        raise RuntimeError(f"the floor statement did not exhaust its budget: {execution.error_kind}")
    return elapsed


def answer_bound_s(floor_s: float) -> float:
    """The slowest answer an attack may get: 3 s, or on a machine where one exhausted budget alone takes
    longer, one and a half budgets plus a second of HTTP and grading overhead."""
    return max(3.0, 1.5 * floor_s + 1.0)


def missing_db_tasks(folder: Path) -> Path:
    """A task file with one debug task whose database file does not exist."""
    path = folder / "missing.jsonl"
    task = {"task_id": MISSING_TASK, "family": "debug", "split": "custom", "question": "q",
            "db": {"sqlite_path": str(folder / "no_such_database.sqlite")},
            "gold_sql": "SELECT 1", "broken_sql": "SELECT 2"}
    path.write_text(json.dumps(task) + "\n")
    return path


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def start_server(tasks: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "env_server", "serve", "--port", str(port), "--tasks", str(tasks)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    while True:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return server, url
        except httpx.TransportError:
            pass
        if server.poll() is not None or time.monotonic() - started > 60:
            server.kill()
            raise RuntimeError("the server did not start")
        time.sleep(0.05)


def stop_seconds(server: subprocess.Popen, timeout: float = 30.0) -> float:
    """Seconds from SIGTERM to the server process exiting (killed, and reported as ``timeout``, past it)."""
    started = time.monotonic()
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(timeout)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()
        return float("inf")
    return time.monotonic() - started


def run(classes: list[str] | None = None) -> dict[str, Any]:
    """Play the attack classes against a fresh server; the figures :func:`main` writes."""
    floor = budget_floor_s()
    print(f"floor: one grading budget exhausted in-process in {floor:.3f} s", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        server, url = start_server(missing_db_tasks(Path(tmp)))
        try:
            with httpx.Client(base_url=url, timeout=60) as http:
                http.post("/grade", json={"items": [{"task_id": DEBUG_TASK, "sql": "SELECT 1"}]})  # warm caches
                rss_before = rss_mb(server.pid)
                results: dict[str, Any] = {}
                for name in classes or list(ATTACKS):
                    rec = Recorder()
                    ATTACKS[name](http, rec)
                    results[name] = rec.summary()
                    results[name]["slowest_vs_budget"] = round(results[name]["slowest_s"] / floor, 3)
                    print(f"{name:18s} {json.dumps(results[name])}", flush=True)
                healthy = http.get("/health").status_code == 200
                rss_after = rss_mb(server.pid)
        finally:
            stopped = stop_seconds(server) if server.poll() is None else 0.0
    return {"budget_floor_s": round(floor, 3), "answer_bound_s": round(answer_bound_s(floor), 3),
            "classes": results, "healthy_after": healthy, "server_rss_mb": {"before": rss_before, "after": rss_after},
            "sigterm_stop_s": round(stopped, 3) if stopped != float("inf") else "timeout"}


HEAVY_CORRECT = ("WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r LIMIT 1000000) "
                 "SELECT * FROM ({gold}) WHERE (SELECT count(*) FROM r) > 0")


def grade_beside_busy_threads(threads: int = 8) -> dict[str, Any]:
    """One heavy correct rewrite graded in-process idle, then beside ``threads`` busy Python threads: the
    grades must be equal (only VM steps decide); the seconds show what the GIL costs."""
    from env_server.families import make_grader
    from env_server.tasks.registry import load_tasks

    task = next(t for t in load_tasks() if t.task_id == DEBUG_TASK)
    sql = HEAVY_CORRECT.format(gold=(task.gold_sql or "").rstrip(";"))
    grader = make_grader()
    grader.grade_query(task, task.gold_sql or "")  # references built outside the timing
    started = time.perf_counter()
    idle = grader.grade_query(task, sql)
    idle_s = time.perf_counter() - started
    stop = threading.Event()

    def busy() -> None:
        while not stop.is_set():
            pass

    workers = [threading.Thread(target=busy, daemon=True) for _ in range(threads)]
    for worker in workers:
        worker.start()
    started = time.perf_counter()
    try:
        loaded = grader.grade_query(task, sql)
    finally:
        loaded_s = time.perf_counter() - started
        stop.set()
        for worker in workers:
            worker.join()
    return {"busy_threads": threads, "idle": {"success": idle.success, "score": idle.score, "seconds": round(idle_s, 3)},
            "loaded": {"success": loaded.success, "score": loaded.score, "seconds": round(loaded_s, 3)},
            "same_grade": idle == loaded}


def in_process_figures() -> dict[str, Any]:
    """The figures measured in-process: a grade beside busy threads, and what one VM step can cost."""
    from env_server.tools.bench_step_cost import measure

    busy = grade_beside_busy_threads()
    print(f"grade beside busy threads {json.dumps(busy)}", flush=True)
    cost = measure()
    print(f"step cost: worst {cost['worst_s_per_million_steps']} s per million steps ({cost['worst_statement']}), "
          f"ordinary {cost['ordinary_s_per_million_steps']}", flush=True)
    return {"grade_beside_busy_threads": busy, "step_cost": cost}


def main() -> str:
    figures = run()
    figures.update(in_process_figures())
    slowest = max(c["slowest_s"] for c in figures["classes"].values())
    errors = sum(c["server_errors_5xx"] for c in figures["classes"].values())
    payload = {
        "provenance": provenance(config={"classes": list(ATTACKS), "cpu_count": os.cpu_count()}),
        "summary": {"slowest_answer_s": slowest, "budget_floor_s": figures["budget_floor_s"],
                    "slowest_vs_budget": round(slowest / figures["budget_floor_s"], 3), "server_errors_5xx": errors, "healthy_after": figures["healthy_after"],
                    "sigterm_stop_s": figures["sigterm_stop_s"], "server_rss_mb": figures["server_rss_mb"]},
        **figures,
    }
    write_results(OUT, payload)
    print(f"slowest answer {slowest} s, {errors} 5xx, healthy after: {figures['healthy_after']}, "
          f"SIGTERM stop {figures['sigterm_stop_s']} s; wrote {OUT}")
    return str(OUT)
