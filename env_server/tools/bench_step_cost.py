"""What one SQLite VM step can cost: CPU seconds per million steps of ordinary and hostile statements.

A grade is decided by VM steps alone (the same on every machine and under any load), so the step budget bounds a
grading run's time only as far as the cost of one step is bounded. Most steps cost ~10 ns; a step that works on a
long string or blob costs as much as the string is long. This bench runs each statement of :data:`STATEMENTS`
once on a bare sandbox connection in grading mode, with the grading budget and safety net of
:class:`~env_server.core.sandbox.SandboxConfig`, and records the steps it used, the CPU seconds of its thread,
their ratio, and what stopped it:

* ``steps``: the step budget (a property of the SQL: the same everywhere). ``randomblob``/``zeroblob`` charge the
  bytes they make to it, so blob bombs end here in well under a second.
* ``safety_net``: the CPU-time safety net, before the budget ran out. Such a submission is *not graded* (never a
  0). These are the statements whose steps stay expensive: long strings made once and worked on row after row
  (``LIKE``, ``instr``, ``upper``, sorting on long keys). Their seconds per million steps is the figure the step
  budget does not bound; the net does.

``python -m env_server bench --hostile`` includes this as ``step_cost`` in ``results/bench/hostile.json``;
``python -m env_server.tools.bench_step_cost`` prints it alone.
"""
from __future__ import annotations

import json
import time
from typing import Any

from env_server.core.sandbox import SandboxConfig, execute, harden, new_connection

_ROWS = "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r LIMIT 100000000)"
_LONG = ("WITH RECURSIVE r(i, s) AS (SELECT 1, hex(zeroblob(200000)) UNION ALL SELECT i + 1, s FROM r "
         "LIMIT 100000000)")
STATEMENTS: dict[str, str] = {
    "ordinary_count": f"{_ROWS} SELECT count(*) FROM r",
    "ordinary_group_by": f"{_ROWS} SELECT i % 7, count(*), sum(i) FROM r GROUP BY 1",
    "randomblob_hex": f"{_ROWS} SELECT sum(length(hex(randomblob(499999)))) FROM r",
    "randomblob": f"{_ROWS} SELECT sum(length(randomblob(999999))) FROM r",
    "zeroblob_hex": f"{_ROWS} SELECT sum(length(hex(zeroblob(499999)))) FROM r",
    "replace_growth": (f"{_ROWS} SELECT sum(length(replace(hex(zeroblob(1000)), '0', "
                       f"'{'a' * 150}'))) FROM r"),
    "printf_width": f"{_ROWS} SELECT sum(length(printf('%100000d', i))) FROM r",
    "group_concat": f"{_ROWS} SELECT length(group_concat(hex(zeroblob(100)))) FROM r",
    "concat_long": ("WITH RECURSIVE r(i, s) AS (SELECT 1, hex(zeroblob(200000)) UNION ALL SELECT i + 1, "
                    "substr(s || 'x', 2) FROM r LIMIT 100000000) SELECT count(*) FROM r"),
    "like_long": f"{_LONG} SELECT count(*) FROM r WHERE s LIKE '%0%0%0%0%0%0%0%0%0%0%1%'",
    "instr_long": f"{_LONG} SELECT count(*) FROM r WHERE instr(s, '1') > 0",
    "upper_long": f"{_LONG} SELECT sum(length(upper(s))) FROM r",
    "json_long": ("WITH RECURSIVE r(i, s) AS (SELECT 1, '[' || replace(hex(zeroblob(50000)), '00', '1,') || '1]' "
                  "UNION ALL SELECT i + 1, s FROM r LIMIT 100000000) SELECT sum(json_array_length(s)) FROM r"),
    "sort_long_keys": ("WITH RECURSIVE r(i, s) AS (SELECT 1, hex(zeroblob(200000)) UNION ALL SELECT i + 1, s FROM r "
                       "LIMIT 3000) SELECT count(*) FROM (SELECT s || i AS k FROM r ORDER BY k)"),
}
"""Statements whose steps cost from ~10 ns (ordinary) to tens of microseconds (long strings reused)."""


def measure(config: SandboxConfig | None = None, names: list[str] | None = None) -> dict[str, Any]:
    """Run each statement once in grading mode; per statement: steps, CPU seconds, seconds per million steps and
    what stopped it. ``worst_s_per_million_steps`` is the largest ratio; ``ordinary_s_per_million_steps`` the
    ordinary statements' (the ratio a step budget is sized on)."""
    config = config or SandboxConfig()
    conn = harden(new_connection(), config)
    rows: dict[str, dict[str, Any]] = {}
    for name in names or list(STATEMENTS):
        started = time.thread_time()
        execution = execute(conn, STATEMENTS[name], mode="read", config=config, purpose="grading")
        cpu = time.thread_time() - started
        rows[name] = {
            "vm_steps": execution.vm_steps,
            "cpu_s": round(cpu, 3),
            "s_per_million_steps": round(cpu / max(execution.vm_steps, 1) * 1e6, 4),
            "stopped_by": execution.stopped_by,
            "error_kind": execution.error_kind.value if execution.error_kind else None,
        }
    conn.close()
    ordinary = [r["s_per_million_steps"] for n, r in rows.items() if n.startswith("ordinary")]
    worst = max(rows, key=lambda n: rows[n]["s_per_million_steps"])
    return {
        "budget_steps": config.max_vm_steps,
        "safety_net_cpu_s": config.grading_cpu_limit_s,
        "ordinary_s_per_million_steps": max(ordinary) if ordinary else None,
        "worst_s_per_million_steps": rows[worst]["s_per_million_steps"],
        "worst_statement": worst,
        "slowest_cpu_s": max(r["cpu_s"] for r in rows.values()),
        "statements": rows,
    }


if __name__ == "__main__":
    print(json.dumps(measure(), indent=2))
