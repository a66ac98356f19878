"""Split filling: ``take`` collects admitted tasks up to ``n`` and reads no batch further than needed."""
from __future__ import annotations

from tqdm import tqdm

from env_server.tasks.spec import DbSpec, Task
from env_server.tasks.splits import take


def _task(i: int) -> Task:
    return Task(task_id=f"debug-t-{i}", family="debug", split="train", db=DbSpec(domain="hr", seed=1),
                question="q", broken_sql="SELECT 1", gold_sql="SELECT 1")


def test_take_stops_at_n_and_reads_lazily():
    read: list[int] = []

    def batch(start: int):
        for i in range(start, start + 3):
            read.append(i)
            yield _task(i)

    tasks: list[Task] = []
    with tqdm(disable=True) as bar:
        take(tasks, 4, (batch(s) for s in (0, 10, 20)), lambda t: not t.task_id.endswith("-1"), bar)
    assert [t.task_id for t in tasks] == ["debug-t-0", "debug-t-2", "debug-t-10", "debug-t-11"]
    assert read == [0, 1, 2, 10, 11]  # the second batch stops at the 4th task; the third is never opened


def test_take_keeps_what_it_has_when_batches_run_out():
    tasks = [_task(99)]
    with tqdm(disable=True) as bar:
        take(tasks, 10, [[_task(1), _task(2)]], lambda t: True, bar)
    assert len(tasks) == 3
