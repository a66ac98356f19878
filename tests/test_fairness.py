"""Fair sharing against a real server (``python -m env_server serve`` on 127.0.0.1): one client cannot lock
the others out. Clients are told apart by their real TCP source address (127.0.0.1, 127.0.0.2, 127.0.0.3 are
all loopback on Linux, so each test client binds its own), or by a configured token. Also the client
identity and quota helpers on their own."""
from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from env_server.server.fairness import InFlightQuota, QuotaExceeded, client_key, token_key
from env_server.server.serving import free_ports, start_server

TASK = "debug-fixed-syntax_fix"
REPAIR = "repair-fixed-normalise_users"  # a 16 KiB database
HEAVY = "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r) SELECT COUNT(*) FROM r"
HEAVY_GRADE = HEAVY.replace("FROM r)", "FROM r LIMIT 4000000)")
"""A graded item that runs ~0.7 s and ends by itself (HEAVY runs to the grading budget, seconds per item)."""


def _client(url: str, address: str = "127.0.0.1", **kwargs) -> httpx.Client:
    return httpx.Client(base_url=url, transport=httpx.HTTPTransport(local_address=address), timeout=60, **kwargs)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A real server with the default quotas (512 sessions, 128 per client, 4 requests in flight per client), a
    small repair-copy budget (two 16 KiB copies in all, one per client) and one client token."""
    tokens = tmp_path_factory.mktemp("tokens") / "tokens.txt"
    tokens.write_text("team-a-secret\n")
    port = free_ports()
    url = f"http://127.0.0.1:{port}"
    proc = start_server(["--port", str(port), "--clone-mib", "0.04", "--clone-mib-per-client", "0.02",
                         "--client-tokens", str(tokens)], [url])
    yield url
    proc.terminate()
    proc.wait(20)


def test_another_address_gets_a_session_after_one_address_opened_600(server):
    async def flood() -> list[httpx.Response]:
        transport = httpx.AsyncHTTPTransport(local_address="127.0.0.1")
        async with httpx.AsyncClient(base_url=server, transport=transport, timeout=60,
                                     limits=httpx.Limits(max_connections=32)) as http:
            gate = asyncio.Semaphore(32)

            async def one() -> httpx.Response:
                async with gate:
                    return await http.post("/reset", json={"task_id": TASK})

            return await asyncio.gather(*(one() for _ in range(600)))

    answers = asyncio.run(flood())
    codes = [r.status_code for r in answers]
    assert codes.count(200) == 128 and codes.count(429) == 472, sorted(set(codes))
    refused = next(r for r in answers if r.status_code == 429)
    assert refused.json()["code"] == "session_quota" and "at most 128 per client" in refused.json()["detail"]
    assert 1 <= int(refused.headers["retry-after"]) <= 900
    with _client(server, "127.0.0.2") as other:
        reset = other.post("/reset", json={"task_id": TASK})
        assert reset.status_code == 200, reset.text
        stats = other.get("/sessions").json()
        assert stats["live"] == 129 and stats["per_client"] == 128 and stats["clients"] == 2
        other.delete("/session", headers={"X-Session-Id": reset.json()["session_id"]})
    # a configured token is its own client, even from the address that is over its quota
    with _client(server, "127.0.0.1", headers={"Authorization": "Bearer team-a-secret"}) as team:
        assert team.post("/reset", json={"task_id": TASK}).status_code == 200
    with _client(server, "127.0.0.1", headers={"X-Client-Token": "made-up"}) as pretender:
        assert pretender.post("/reset", json={"task_id": TASK}).status_code == 429  # unknown token: its address
    with _client(server, "127.0.0.1") as flooder:  # closing one frees a slot for the same client
        sid = next(r.json()["session_id"] for r in answers if r.status_code == 200)
        assert flooder.delete("/session", headers={"X-Session-Id": sid}).status_code == 200
        assert flooder.post("/reset", json={"task_id": TASK}).status_code == 200


def test_in_flight_grading_is_capped_per_client_and_another_client_is_served(server):
    async def burst() -> tuple[list[httpx.Response], float, int]:
        transport = httpx.AsyncHTTPTransport(local_address="127.0.0.3")
        victim_transport = httpx.AsyncHTTPTransport(local_address="127.0.0.4")
        async with httpx.AsyncClient(base_url=server, transport=transport, timeout=60) as attacker, \
                httpx.AsyncClient(base_url=server, transport=victim_transport, timeout=60) as victim:
            await victim.post("/grade", json={"items": [{"task_id": TASK, "sql": "SELECT 1"}]})  # variants built
            item = {"task_id": TASK, "sql": HEAVY_GRADE}
            attacks = [asyncio.ensure_future(attacker.post("/grade", json={"items": [item] * 4})) for _ in range(8)]
            await asyncio.sleep(0.2)
            started = time.perf_counter()
            answer = await victim.post("/grade", json={"items": [{"task_id": TASK, "sql": "SELECT 1"}]})
            victim_s = time.perf_counter() - started
            done = await asyncio.gather(*attacks)
            return done, victim_s, time.perf_counter() - started, answer.status_code

    attacks, victim_s, attack_s, victim_status = asyncio.run(burst())
    codes = [r.status_code for r in attacks]
    assert codes.count(429) >= 4 and set(codes) <= {200, 429}, codes
    refused = next(r for r in attacks if r.status_code == 429)
    assert refused.json()["code"] == "inflight_quota" and refused.headers["retry-after"] == "1"
    assert victim_status == 200 and victim_s < 3.0, victim_s  # served beside them, not after them
    assert attack_s > 2 * victim_s, (attack_s, victim_s)  # ...while they were still being graded


def test_a_client_with_many_busy_sessions_delays_another_by_one_job_not_all_of_them(server):
    """32 sessions of one client each run a statement to its 1 s limit at once: the worker threads go to the
    waiting client with the fewest jobs running, so another client's step waits for one job, not for 32/4."""
    async def burst() -> tuple[float, float]:
        transport = httpx.AsyncHTTPTransport(local_address="127.0.0.8")
        victim_transport = httpx.AsyncHTTPTransport(local_address="127.0.0.9")
        async with httpx.AsyncClient(base_url=server, transport=transport, timeout=120,
                                     limits=httpx.Limits(max_connections=64)) as attacker, \
                httpx.AsyncClient(base_url=server, transport=victim_transport, timeout=60) as victim:
            sids = [(await attacker.post("/reset", json={"task_id": TASK})).json()["session_id"] for _ in range(32)]
            vid = (await victim.post("/reset", json={"task_id": TASK})).json()["session_id"]
            slow = {"action": {"action_type": "run_query", "sql": HEAVY}}
            started = time.perf_counter()
            steps = [asyncio.ensure_future(attacker.post("/step", json=slow, headers={"X-Session-Id": sid}))
                     for sid in sids]
            await asyncio.sleep(0.3)
            asked = time.perf_counter()
            answer = await victim.post("/step", json={"action": {"action_type": "run_query", "sql": "SELECT 1"}},
                                       headers={"X-Session-Id": vid})
            victim_s = time.perf_counter() - asked
            assert answer.status_code == 200
            assert all(r.status_code == 200 for r in await asyncio.gather(*steps))
            return victim_s, time.perf_counter() - started

    victim_s, attacker_s = asyncio.run(burst())
    assert victim_s < 3.0 and victim_s < attacker_s / 2, (victim_s, attacker_s)


def test_repair_copies_have_a_per_client_share_and_a_server_wide_cap(server):
    with _client(server, "127.0.0.5") as a, _client(server, "127.0.0.6") as b, _client(server, "127.0.0.7") as c:
        first = a.post("/reset", json={"task_id": REPAIR})
        assert first.status_code == 200, first.text
        second = a.post("/reset", json={"task_id": REPAIR})
        assert second.status_code == 429 and second.json()["code"] == "clone_quota", second.text
        assert "close a repair session" in second.json()["detail"] and "retry-after" in second.headers
        assert a.post("/reset", json={"task_id": TASK}).status_code == 200  # read-only tasks need no copy
        assert b.post("/reset", json={"task_id": REPAIR}).status_code == 200
        full = c.post("/reset", json={"task_id": REPAIR})
        assert full.status_code == 503 and full.json()["code"] == "clone_capacity", full.text
        assert int(full.headers["retry-after"]) >= 1 and "MiB" in full.json()["detail"]
        a.delete("/session", headers={"X-Session-Id": first.json()["session_id"]})  # frees its copy
        assert c.post("/reset", json={"task_id": REPAIR}).status_code == 200


def test_client_key_uses_a_configured_token_else_the_address():
    scope = {"client": ("10.0.0.7", 5555), "headers": [(b"authorization", b"Bearer t1")]}
    assert client_key(scope) == "addr:10.0.0.7"
    assert client_key(scope, ["t1"]) == token_key("t1") and "t1" not in token_key("t1")
    assert client_key({**scope, "headers": [(b"x-client-token", b"t2")]}, ["t1", "t2"]) == token_key("t2")
    assert client_key({**scope, "headers": [(b"x-client-token", b"nope")]}, ["t1"]) == "addr:10.0.0.7"
    assert client_key({"headers": []}) == "addr:unknown"


def test_in_flight_quota_refuses_past_its_count_and_frees_on_exit():
    quota = InFlightQuota(2, "/grade")
    with quota.hold("a"), quota.hold("a"):
        with pytest.raises(QuotaExceeded) as refused, quota.hold("a"):
            pass
        assert refused.value.status == 429 and refused.value.retry_after_s == 1
        with quota.hold("b"):
            assert quota.in_flight() == 3
    assert quota.in_flight() == 0
    with quota.hold("a"):
        pass
