"""``python -m env_server build-data``: generate every task file, the docs corpus and ``data/README.md``, deterministically.

Writes ``data/tasks/<family>_<split>.jsonl`` for the four families and the splits ``fixed`` (seed
tasks of the four designs; grounded has none), ``train``, ``heldout_iid``, ``heldout_ood`` and
``heldout_external`` (defog-data, read from ``data/external``), then ``data/docs/*.md`` (the
business-documents corpus, glossary documents included), and a README whose count tables are
computed from the files just written. Running it twice gives byte-identical files (a test checks
this against the committed data). Fixed tasks must score 1.0 with their reference solutions, or
the build fails.
"""
from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from env_server.core.sandbox import NotGraded
from env_server.core.docs import DocCorpus, write_corpus
from env_server.families import default_families
from env_server.families import make_grader
from env_server.grading.grader import Grader
from env_server.tasks.overlap import TrainIndex, overlap_counts
from env_server.tasks.spec import SPLITS, Task, save_jsonl

REBUILD_COMMAND = "python -m env_server build-data"
EXTERNAL_SPLIT = "heldout_external"


def corpus(external: bool = True) -> list:
    """Every document of ``data/docs``: the generated domains' and the defog-data glossaries'.

    With ``external=False`` the glossary documents are left out when ``data/external`` is not
    there (with ``external=True`` its absence is an error that says where it is looked for)."""
    from env_server.tasks.definitions import DOCS
    from env_server.tasks.external import glossary_docs

    try:
        glossary = glossary_docs()
    except FileNotFoundError:
        if external:
            raise
        glossary = []
    return sorted([*DOCS, *glossary], key=lambda d: d.doc_id)


def check_fixed(grader: Grader, tasks: list[Task]) -> None:
    """Every fixed task must be valid and score 1.0 with its reference solution (its gold query, its gold
    repair script, or its gold answer citing its documents)."""
    from env_server.grading.answers import gold_value

    for task in tasks:
        family = grader.families[task.family]
        if family.submits == "answer":
            gold = gold_value(list(grader.reference(task).rows), task.answer_type)  # type: ignore[arg-type]
            answer = sorted(gold) if task.answer_type == "set" else gold  # type: ignore[arg-type]
            grade = family.grade(grader, task, answer=answer, citations=list(task.doc_ids))
            problems = []
        else:
            try:
                grade = (grader.grade_query(task, task.gold_sql or "") if family.submits == "query"
                         else grader.grade_repair(task, task.gold_repair_sql or []))
            except NotGraded as exc:
                raise RuntimeError(f"fixed task {task.task_id} is invalid: its gold {exc}") from None
            problems = grader.task_problems(task)
        if problems or grade.score != 1.0:
            raise RuntimeError(
                f"fixed task {task.task_id} is invalid: {'; '.join(problems) or grade.reason} (score {grade.score})"
            )


def build(
    out_dir: Path,
    splits: Iterable[str] = SPLITS,
    progress: bool = True,
    sizes: dict[str, int] | None = None,
    families: Iterable[str] | None = None,
    external: bool = True,
) -> dict[str, list[Task]]:
    """Generate tasks for ``families`` × ``splits`` (+ ``heldout_external`` unless ``external`` is
    False) into ``out_dir/tasks``, the docs into ``out_dir/docs``, and write ``out_dir/README.md``.

    Every family's train split is generated first, and held-out candidates that repeat a train task are
    skipped (:mod:`env_server.tasks.overlap`); without ``train`` in ``splits`` the committed train split
    (``data/tasks``) is the one excluded."""
    registry = default_families()
    families = list(registry.names if families is None else families)
    docs_dir = out_dir / "docs"
    docs = corpus(external)
    write_corpus(docs, docs_dir)
    grader = make_grader(docs=DocCorpus.load(docs_dir))  # grade against the corpus just written
    files: dict[str, list[Task]] = {}
    for family in families:
        fixed = registry[family].fixed_tasks
        if fixed is not None:
            tasks = fixed()
            check_fixed(grader, tasks)
            files[f"{family}_fixed"] = tasks
    splits = list(splits)
    train = TrainIndex()
    if "train" in splits:  # every family's train split first: no held-out task of any family may repeat one
        for family in families:
            tasks = registry[family].generate_split("train", n=(sizes or {}).get("train"), grader=grader,
                                                      progress=progress)
            files[f"{family}_train"] = tasks
            for task in tasks:
                train.add(task)
    else:  # held-out splits alone: they still exclude the committed train split
        from env_server.tasks.registry import load_tasks

        for task in load_tasks(split="train"):
            train.add(task)
    for family in families:
        for split in splits:
            if split == "train":
                continue
            n = (sizes or {}).get(split)
            files[f"{family}_{split}"] = registry[family].generate_split(split, n=n, grader=grader, progress=progress,
                                                                           exclude=train if train else None)
    if external:
        from env_server.tasks.external_split import generate

        for family, tasks in generate(families, grader=grader, progress=progress).items():
            tasks = [t for t in tasks if not train.refuses(t)]
            if tasks:
                files[f"{family}_{EXTERNAL_SPLIT}"] = tasks
    tasks_dir = out_dir / "tasks"
    tasks_dir.mkdir(parents=True, exist_ok=True)
    for stale in tasks_dir.glob("*.jsonl"):
        if stale.stem not in files:
            stale.unlink()
    for name, tasks in files.items():
        save_jsonl(tasks, tasks_dir / f"{name}.jsonl")
    (out_dir / "README.md").write_text(readme(files, docs), encoding="utf-8")
    return files


def _cross_table(title: str, by_split: dict[str, list[Task]], key, note: str = "") -> list[str]:
    """A table with one row per value of ``key`` and one column per split."""
    splits = list(by_split)
    counts = {split: Counter(v for t in tasks for v in key(t)) for split, tasks in by_split.items()}
    values = sorted({v for c in counts.values() for v in c})
    if not values:
        return []
    lines = [f"## {title}", ""] + ([note, ""] if note else [])
    lines += ["| | " + " | ".join(splits) + " |", "|---|" + "---:|" * len(splits)]
    for value in values:
        lines.append(f"| {value} | " + " | ".join(f"{counts[s][value]:,}" if counts[s][value] else "" for s in splits) + " |")
    return lines + [""]


def _domain(task: Task) -> str:
    if task.db.domain:
        return task.db.domain
    if task.db.sql_path:
        return "external-" + Path(task.db.sql_path).stem
    return "custom"


SPLIT_ORDER = ("fixed", "train", "heldout_iid", "heldout_ood", EXTERNAL_SPLIT)


def readme(files: dict[str, list[Task]], docs: list | None = None) -> str:
    """The data README, with every count computed from ``files`` (and the docs corpus)."""
    everything = [t for tasks in files.values() for t in tasks]
    by_split: dict[str, list[Task]] = {}
    for split in SPLIT_ORDER:
        chosen = [t for t in everything if t.split == split]
        if chosen:
            by_split[split] = chosen

    def family_split(family: str) -> dict[str, list[Task]]:
        return {s: [t for t in tasks if t.family == family] for s, tasks in by_split.items()}

    lines = [
        "# data/",
        "",
        "Generated task sets and the business-documents corpus. Do not edit by hand: rebuild with",
        "",
        f"    {REBUILD_COMMAND}",
        "",
        "The build is deterministic; `tests/test_build_data.py` rebuilds and compares with these files.",
        "Each line of a `tasks/*.jsonl` file is one task spec (see `env_server/tasks/spec.py`). Every count",
        "below is computed by the build from the files it wrote. `heldout_external` tasks reference the",
        "defog-data databases copied in `data/external/defog-data` (Apache-2.0, see `external/README.md`) by",
        "a path relative to the task file (transpiled from PostgreSQL to SQLite when first used); their",
        "glossary lines are documents of the corpus, each with its source. Every family's train split is",
        "generated first; no held-out task repeats a train task's gold query, repair script or question, and",
        "no `heldout_ood` or `heldout_external` task has a train task's gold shape (see \"Overlap with train\").",
        "",
        "## Files",
        "",
        "| file | family | split | tasks |",
        "|---|---|---|---:|",
    ]
    for name, tasks in files.items():
        lines.append(f"| `tasks/{name}.jsonl` | {tasks[0].family} | {tasks[0].split} | {len(tasks):,} |")
    lines += [f"| **total** | | | **{len(everything):,}** |", ""]
    train = TrainIndex(by_split.get("train", []))
    if train:
        lines += ["## Overlap with train", "",
                  "Held-out tasks that share with any train task (of any family) its normalised gold query, gold "
                  "repair script or question text, and those whose gold query or repair script has a train task's "
                  "shape (literals masked, aliases dropped, identifiers folded: `query_shape` in "
                  "`env_server/tasks/overlap.py`), computed from the files. `heldout_ood` and `heldout_external` "
                  "are shape-novel (the build refuses a train shape there) and evaluation draws from them by "
                  "default; `heldout_iid` is in-distribution by design (train domains and shapes, new constants "
                  "and data). `tests/test_overlap.py` asserts these counts.", "",
                  "| split | family | tasks | gold query | repair script | question | gold shape |",
                  "|---|---|---:|---:|---:|---:|---:|"]
        for split, tasks in by_split.items():
            if not split.startswith("heldout"):
                continue
            for family in sorted({t.family for t in tasks}):
                mine = [t for t in tasks if t.family == family]
                c = overlap_counts(train, mine)
                lines.append(f"| {split} | {family} | {len(mine):,} | {c['gold_query']} | {c['repair_script']} | "
                             f"{c['question']} | {c['gold_shape']} |")
        lines.append("")
    lines += _cross_table("Tasks per family", by_split, lambda t: [t.family])
    lines += _cross_table("Tasks per domain (all families)", by_split, lambda t: [_domain(t)])
    lines += _cross_table("Tasks per difficulty (all families)", by_split, lambda t: [f"{t.family} / {t.difficulty}"])
    families = list(default_families().values())
    answering = [f.name for f in families if f.submits == "answer"]
    for family in families:  # each family's own tables; the answer types follow the first family that answers
        for table in family.readme_tables:
            lines += _cross_table(f"{family.name}: {table.title}", family_split(family.name), table.key, table.note)
        if answering and family.name == answering[0]:
            lines += _cross_table(f"{' and '.join(answering)}: tasks per answer type",
                                  {s: [t for t in ts if t.answer_type] for s, ts in by_split.items()},
                                  lambda t: [f"{t.family} / {t.answer_type}"])
    if docs:
        lines += ["## Documents (`docs/`)", "", "| domain | current | superseded | draft | total |", "|---|---:|---:|---:|---:|"]
        by_domain: dict[str, Counter] = {}
        for doc in docs:
            by_domain.setdefault(doc.domain, Counter())[doc.status] += 1
        for domain, count in sorted(by_domain.items()):
            lines.append(f"| {domain} | {count['current']} | {count['superseded'] or ''} | {count['draft'] or ''} | {sum(count.values())} |")
        total = Counter(d.status for d in docs)
        lines += [f"| **total** | **{total['current']}** | **{total['superseded']}** | **{total['draft']}** | **{len(docs)}** |", ""]
    return "\n".join(lines).rstrip() + "\n"


def main(out_dir: Path, progress: bool = True, external: bool = True) -> None:
    started = time.perf_counter()
    files = build(out_dir, progress=progress, external=external)
    total = sum(len(t) for t in files.values())
    print(f"wrote {total:,} tasks in {len(files)} files to {out_dir / 'tasks'} in {time.perf_counter() - started:.1f}s")
    for name, tasks in files.items():
        print(f"  {name}: {len(tasks):,}")
