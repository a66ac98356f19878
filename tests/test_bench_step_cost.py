"""The step-cost bench: blob bombs end on their step budget (bytes are charged), ordinary SQL too; the report
names what stopped each statement and its CPU seconds per million steps."""
from __future__ import annotations

from dataclasses import replace

from env_server.core.sandbox import SandboxConfig
from env_server.tools.bench_step_cost import STATEMENTS, measure


def test_blob_bombs_and_ordinary_sql_end_on_the_step_budget():
    config = replace(SandboxConfig(), max_vm_steps=20_000_000)
    report = measure(config, ["ordinary_count", "randomblob_hex", "randomblob", "zeroblob_hex"])
    assert set(report["statements"]) == {"ordinary_count", "randomblob_hex", "randomblob", "zeroblob_hex"}
    for name, row in report["statements"].items():
        assert row["stopped_by"] == "steps" and row["error_kind"] == "timeout", (name, row)
        assert 20_000_000 <= row["vm_steps"] < 21_500_000
    assert report["worst_statement"] in report["statements"]
    assert report["ordinary_s_per_million_steps"] is not None


def test_a_long_string_reused_row_after_row_is_stopped_by_the_safety_net_not_the_budget():
    config = replace(SandboxConfig(), grading_cpu_limit_s=0.3)
    row = measure(config, ["upper_long"])["statements"]["upper_long"]
    assert row["stopped_by"] == "safety_net" and row["vm_steps"] < config.max_vm_steps
    assert all(sql.lstrip().upper().startswith("WITH") for sql in STATEMENTS.values())
