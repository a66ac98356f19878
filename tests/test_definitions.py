"""Tests for the business-documents corpus and grounded metrics (data/docs, data/metrics.toml) and their loader.

Offline and in-memory: the corpus is checked for size, id hygiene, referential integrity and
self-describing distractors; every metric's gold and naive SQL is run for every binding on
seeded databases of its domain (and on one perturbed variant), checking answer shapes and that
the current definition and the naive reading disagree often enough to make questions.
"""
from __future__ import annotations

import random
import re
import sqlite3
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest

from env_server.core.docs import render
from env_server.core.variants import perturb, variant_seed
from env_server.grading.answers import Precision, check_answer, stated_precision
from env_server.tasks.definitions import (
    DOCS,
    GENERATED_DOMAINS,
    METRICS,
    docs_for,
    load_definitions,
    metrics_for,
    sql_literal,
)
from env_server.core.domains import DOMAINS, get_domain, populate
from env_server.tasks.grounding import DOC_ID, Doc, Metric

DATA = Path(__file__).resolve().parents[1] / "data"
DOC_BY_ID: dict[str, Doc] = {doc.doc_id: doc for doc in DOCS}
SEEDS = (0, 1, 2)
MIN_DIFFERING = 10
SQL_WORDS = re.compile(
    r"\b(SELECT|FROM|WHERE|JOIN|GROUP BY|COUNT\(|SUM\(|substr|julianday)\b|_sql\b|[a-z_]+\.[a-z_]+ *="
)
SENTENCE_END = re.compile(r"[.!?](?=\s|$)")


def build(domain: str, seed: int) -> sqlite3.Connection:
    """A fresh in-memory database of ``domain`` for ``seed``."""
    conn = sqlite3.connect(":memory:")
    populate(conn, get_domain(domain), seed)
    return conn


def answer(conn: sqlite3.Connection, sql: str, answer_type: str) -> object:
    """Run ``sql`` read-only and return it shaped as ``answer_type``, asserting the shape."""
    conn.execute("PRAGMA query_only = ON")
    try:
        cursor = conn.execute(sql)
        assert len(cursor.description) == 1, f"one column expected: {sql}"
        rows = cursor.fetchall()
    finally:
        conn.execute("PRAGMA query_only = OFF")
    if answer_type == "set":
        values = [row[0] for row in rows]
        assert len(values) == len(set(values)), f"set answers need one row per distinct member: {sql}"
        return frozenset(values)
    assert len(rows) == 1, f"scalar answers need exactly one row, got {len(rows)}: {sql}"
    value = rows[0][0]
    if value is None:
        return None
    if answer_type == "int":
        assert isinstance(value, int) and not isinstance(value, bool), f"int expected, got {value!r}: {sql}"
    elif answer_type == "float":
        assert isinstance(value, (int, float)) and not isinstance(value, bool), f"number expected: {sql}"
    else:
        assert isinstance(value, str), f"string expected, got {value!r}: {sql}"
    return value


def differs(metric: Metric, gold: object, naive: object) -> bool:
    """Whether the naive answer would be graded wrong against the gold one."""
    if metric.answer_type == "float" and isinstance(gold, (int, float)) and isinstance(naive, (int, float)):
        return not check_answer(naive, gold, "float", metric.tolerance).correct
    return gold != naive


def usable(gold: object) -> bool:
    """A gold answer a question can be asked about: not NULL, not an empty set."""
    return gold is not None and gold != frozenset()


def evaluate(domain: str, seed: int, variant: int | None = None) -> tuple[tuple[str, dict, object, object], ...]:
    """``(metric_id, binding, gold, naive)`` for every metric and binding of ``domain`` at ``seed``.

    Bindings always come from the main database; with ``variant`` the SQL runs on that perturbed copy.
    """
    conn = build(domain, seed)
    target = conn
    if variant is not None:
        target = sqlite3.connect(":memory:")
        conn.backup(target)
        perturb(target, variant_seed(f"definitions-{domain}-{seed}", variant))
    results = []
    for metric in metrics_for(domain):
        for binding in metric.parameters(conn, random.Random(seed)):
            gold = answer(target, metric.gold_sql.format(**binding), metric.answer_type)
            naive = answer(target, metric.naive_sql.format(**binding), metric.answer_type)
            results.append((metric.metric_id, binding, gold, naive))
    return tuple(results)


# ---------------------------------------------------------------------------------------------
# the corpus
# ---------------------------------------------------------------------------------------------


def test_corpus_size_and_coverage() -> None:
    assert len(DOCS) >= 42
    assert set(GENERATED_DOMAINS) == set(DOMAINS)
    for domain in GENERATED_DOMAINS:
        assert len(docs_for(domain)) >= 5, domain
    assert len(docs_for("general")) >= 2
    assert {doc.domain for doc in DOCS} == {*GENERATED_DOMAINS, "general"}


def test_doc_ids_unique_and_valid() -> None:
    counts = Counter(doc.doc_id for doc in DOCS)
    assert [doc_id for doc_id, n in counts.items() if n > 1] == []
    for doc in DOCS:
        assert DOC_ID.match(doc.doc_id), doc.doc_id
        assert doc.doc_id.startswith(f"{doc.domain}-"), doc.doc_id
        assert doc.title.strip() and doc.title == doc.title.strip(), doc.doc_id


def test_doc_bodies_are_short_plain_sentences() -> None:
    for doc in DOCS:
        sentences = len(SENTENCE_END.findall(doc.body))
        assert 2 <= sentences <= 6, f"{doc.doc_id}: {sentences} sentences"
        assert "SELECT" not in doc.body and "\n" not in doc.body, doc.doc_id


def test_non_current_docs_say_so_and_point_to_a_current_doc() -> None:
    for doc in DOCS:
        if doc.status == "current":
            assert doc.superseded_by is None, doc.doc_id
            continue
        target = DOC_BY_ID.get(doc.superseded_by or "")
        assert target is not None, f"{doc.doc_id} points to a missing doc {doc.superseded_by!r}"
        assert target.status == "current" and target.domain == doc.domain, doc.doc_id
        assert doc.status in doc.body.lower(), f"{doc.doc_id} must say it is {doc.status} in its own text"
        assert doc.superseded_by in doc.body, f"{doc.doc_id} must name {doc.superseded_by} in its text"
        if doc.status == "superseded":
            assert re.search(r"[Ss]uperseded on \d{4}-\d{2}-\d{2} by ", doc.body), doc.doc_id
            assert "do not use" in doc.body.lower(), doc.doc_id
        else:
            assert "not adopted" in doc.body.lower(), doc.doc_id


def test_statuses_and_kinds_are_all_used() -> None:
    assert {doc.status for doc in DOCS} == {"current", "superseded", "draft"}
    assert {doc.kind for doc in DOCS} == {"definition", "policy", "note"}
    for domain in GENERATED_DOMAINS:
        assert any(doc.status == "superseded" for doc in docs_for(domain)), domain


def test_docs_for_and_metrics_for() -> None:
    for domain in (*GENERATED_DOMAINS, "general"):
        assert all(doc.domain == domain for doc in docs_for(domain))
    assert sum(len(docs_for(d)) for d in (*GENERATED_DOMAINS, "general")) == len(DOCS)
    assert docs_for("no-such-domain") == []
    assert sum(len(metrics_for(d)) for d in GENERATED_DOMAINS) == len(METRICS)


# ---------------------------------------------------------------------------------------------
# the metrics, statically
# ---------------------------------------------------------------------------------------------


def test_metric_counts_and_ids() -> None:
    assert len(METRICS) >= 21
    counts = Counter(metric.metric_id for metric in METRICS)
    assert [metric_id for metric_id, n in counts.items() if n > 1] == []
    for domain in GENERATED_DOMAINS:
        assert len(metrics_for(domain)) >= 3, domain
    for metric in METRICS:
        assert metric.metric_id.startswith(f"{metric.domain}-"), metric.metric_id
        assert metric.answer_type in ("int", "float", "string", "set")
        if metric.answer_type == "float":  # graded at the precision the question states, which the gold rounds to
            assert isinstance(metric.tolerance, Precision), metric.metric_id
            assert stated_precision(metric.question) == metric.tolerance, metric.metric_id
            assert re.search(rf", {metric.tolerance.decimals}\) FROM ", metric.gold_sql), metric.metric_id


def test_metric_docs_exist_and_are_current() -> None:
    for metric in METRICS:
        assert 1 <= len(metric.doc_ids) <= 2, metric.metric_id
        assert len(set(metric.doc_ids)) == len(metric.doc_ids), metric.metric_id
        for doc_id in metric.doc_ids:
            doc = DOC_BY_ID.get(doc_id)
            assert doc is not None, f"{metric.metric_id} cites a missing doc {doc_id!r}"
            assert doc.status == "current", f"{metric.metric_id} cites non-current {doc_id}"
            assert doc.domain in (metric.domain, "general"), f"{metric.metric_id} cites {doc_id}"
        assert DOC_BY_ID[metric.doc_ids[0]].kind == "definition", metric.metric_id
        for doc_id in metric.distractor_ids:
            doc = DOC_BY_ID.get(doc_id)
            assert doc is not None, f"{metric.metric_id} names a missing distractor {doc_id!r}"
            assert doc_id not in metric.doc_ids, metric.metric_id
            assert doc.domain == metric.domain, f"{metric.metric_id}: distractor {doc_id}"


def test_every_non_current_doc_is_a_distractor_of_some_metric() -> None:
    used = {doc_id for metric in METRICS for doc_id in metric.distractor_ids}
    orphans = [doc.doc_id for doc in DOCS if doc.status != "current" and doc.doc_id not in used]
    assert orphans == []


@pytest.mark.parametrize("domain", GENERATED_DOMAINS)
def test_each_domain_has_superseded_and_near_synonym_distractors(domain: str) -> None:
    distractors = [DOC_BY_ID[d] for metric in metrics_for(domain) for d in metric.distractor_ids]
    assert any(doc.status == "superseded" for doc in distractors), domain
    assert any(doc.status == "current" for doc in distractors), f"{domain} has no near-synonym distractor"


def test_questions_ask_for_a_citation_and_hold_no_sql() -> None:
    for metric in METRICS:
        assert "cite" in metric.question.lower(), metric.metric_id
        assert not SQL_WORDS.search(metric.question), metric.metric_id
        placeholders = set(re.findall(r"{(\w+)}", metric.question))
        assert not any(name.endswith("_sql") for name in placeholders), metric.metric_id


def test_sql_templates_are_single_selects() -> None:
    for metric in METRICS:
        for sql in (metric.gold_sql, metric.naive_sql):
            assert sql.lstrip().upper().startswith("SELECT"), metric.metric_id
            assert ";" not in sql, metric.metric_id
            assert metric.gold_sql != metric.naive_sql, metric.metric_id


def _copy_definitions(tmp_path, metrics_text: str):
    """A data folder holding the real documents and ``metrics_text`` as its metrics file."""
    (tmp_path / "docs").mkdir()
    for doc in DOCS:
        (tmp_path / "docs" / f"{doc.doc_id}.md").write_text(render(doc), encoding="utf-8")
    (tmp_path / "metrics.toml").write_text(metrics_text, encoding="utf-8")
    return tmp_path


def test_the_files_are_the_definitions() -> None:
    """Every document file of the generated domains round-trips through the loader byte for byte, and the
    metrics file holds every metric."""
    assert len(METRICS) == 29 and len(DOCS) == 76
    generated = {p.stem for p in (DATA / "docs").glob("*.md") if "-glossary-" not in p.stem}
    assert {doc.doc_id for doc in DOCS} == generated
    assert all(render(doc) == (DATA / "docs" / f"{doc.doc_id}.md").read_text(encoding="utf-8") for doc in DOCS)


def test_a_metric_added_to_the_file_is_loaded(tmp_path) -> None:
    text = (DATA / "metrics.toml").read_text(encoding="utf-8") + (
        '\n[[metric]]\nmetric_id = "hr-new"\ndomain = "hr"\ndoc_ids = ["hr-headcount"]\n'
        'question = "How many?"\ngold_sql = "SELECT 1"\nnaive_sql = "SELECT 2"\nanswer_type = "int"\n'
        'parameters = { kind = "values", key = "department", sql = "SELECT name FROM departments", limit = 3 }\n'
    )
    _, metrics = load_definitions(_copy_definitions(tmp_path, text))
    assert metrics[-1].metric_id == "hr-new" and metrics[-1].parameters.limit == 3
    assert metrics[:-1] == METRICS


@pytest.mark.parametrize("entry, message", [
    ('parameters = { kind = "weeks", sql = "SELECT 1" }', "parameters.kind must be one of months, terms, values"),
    ('parameters = { kind = "months", sql = "SELECT 1", step = 2 }', "unexpected keyword argument 'step'"),
    ('parameters = { kind = "months", sql = "SELECT 1" }\ncolour = "red"', "unexpected keyword argument 'colour'"),
])
def test_a_malformed_metric_names_the_file_and_the_metric(tmp_path, entry: str, message: str) -> None:
    text = ('[[metric]]\nmetric_id = "hr-bad"\ndomain = "hr"\ndoc_ids = ["hr-headcount"]\nquestion = "Q"\n'
            f'gold_sql = "SELECT 1"\nnaive_sql = "SELECT 2"\nanswer_type = "int"\n{entry}\n')
    with pytest.raises(ValueError, match=f"metrics.toml: metric hr-bad: .*{re.escape(message)}"):
        load_definitions(_copy_definitions(tmp_path, text))


def test_a_metric_citing_a_missing_document_is_refused(tmp_path) -> None:
    text = ('[[metric]]\nmetric_id = "hr-bad"\ndomain = "hr"\ndoc_ids = ["hr-no-such-doc"]\nquestion = "Q"\n'
            'gold_sql = "SELECT 1"\nnaive_sql = "SELECT 2"\nanswer_type = "int"\n'
            'parameters = { kind = "months", sql = "SELECT 1" }\n')
    with pytest.raises(ValueError, match="metric hr-bad names unknown document.*hr-no-such-doc"):
        load_definitions(_copy_definitions(tmp_path, text))


def test_sql_literal_quotes_safely() -> None:
    conn = sqlite3.connect(":memory:")
    for value in ("plain", "O'Brien", "x'); DROP TABLE t; --", "", "R&B", "{braces}"):
        assert conn.execute(f"SELECT {sql_literal(value)}").fetchone()[0] == value
    with pytest.raises(ValueError):
        sql_literal("nul\x00byte")


# ---------------------------------------------------------------------------------------------
# the metrics on seeded databases
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("domain", GENERATED_DOMAINS)
def test_metrics_run_and_disagree_with_the_naive_reading(domain: str, seed: int) -> None:
    results = evaluate(domain, seed)
    by_metric: dict[str, list[tuple[object, object]]] = {}
    for metric_id, _binding, gold, naive in results:
        by_metric.setdefault(metric_id, []).append((gold, naive))
    metrics = {metric.metric_id: metric for metric in metrics_for(domain)}
    assert set(by_metric) == set(metrics), f"metrics without bindings: {set(metrics) - set(by_metric)}"
    differing = 0
    for metric_id, pairs in by_metric.items():
        metric = metrics[metric_id]
        assert all(usable(gold) for gold, _ in pairs), f"{metric_id}: NULL or empty gold"
        metric_differing = sum(differs(metric, gold, naive) for gold, naive in pairs)
        assert metric_differing * 2 >= len(pairs), f"{metric_id}: gold = naive for most bindings"
        differing += metric_differing
    assert differing >= MIN_DIFFERING, f"{domain} seed {seed}: only {differing} differing pairs"


@pytest.mark.parametrize("domain", GENERATED_DOMAINS)
def test_metrics_keep_disagreeing_on_a_perturbed_variant(domain: str) -> None:
    metrics = {metric.metric_id: metric for metric in metrics_for(domain)}
    results = evaluate(domain, 0, variant=1)
    differing = sum(usable(gold) and differs(metrics[m], gold, naive) for m, _b, gold, naive in results)
    assert differing >= MIN_DIFFERING, f"{domain} variant: only {differing} differing pairs"


@pytest.mark.parametrize("domain", GENERATED_DOMAINS)
def test_parameters_are_deterministic_strings_that_fill_every_template(domain: str) -> None:
    conn = build(domain, 0)
    for metric in metrics_for(domain):
        bindings = metric.parameters(conn, random.Random(7))
        assert bindings == metric.parameters(conn, random.Random(7)), metric.metric_id
        assert 1 <= len(bindings) <= 12, metric.metric_id
        assert len({tuple(sorted(b.items())) for b in bindings}) == len(bindings), metric.metric_id
        for binding in bindings:
            assert all(isinstance(k, str) and isinstance(v, str) for k, v in binding.items()), metric.metric_id
            question = metric.question.format(**binding)
            assert "{" not in question and not SQL_WORDS.search(question), question
            for key, value in binding.items():
                if key.endswith("_sql"):
                    assert value == sql_literal(binding[key[: -len("_sql")]]), metric.metric_id
            metric.gold_sql.format(**binding)
            metric.naive_sql.format(**binding)


def test_month_bindings_cover_several_months() -> None:
    conn = build("ecommerce", 1)
    metric = next(m for m in METRICS if m.metric_id == "ecommerce-active-customers")
    bindings = metric.parameters(conn, random.Random(1))
    assert 6 <= len(bindings) <= 12
    assert all(re.fullmatch(r"2024-(0[1-9]|1[0-2])", b["month"]) for b in bindings)
    assert bindings[0]["month_name"].endswith(" 2024")


# ---------------------------------------------------------------------------------------------
# float metrics are graded at the precision their question states
# ---------------------------------------------------------------------------------------------

FLOAT_METRICS = tuple(metric for metric in METRICS if metric.answer_type == "float")


def test_float_metrics_state_their_decimals_and_a_tolerance_is_refused(tmp_path: Path) -> None:
    assert {metric.tolerance.decimals for metric in FLOAT_METRICS} == {1, 2, 4}  # type: ignore[union-attr]
    entry = ('[[metric]]\nmetric_id = "x-m"\ndomain = "x"\nquestion = "{q}"\ngold_sql = "SELECT 1.5"\n'
             'naive_sql = "SELECT 2.5"\nanswer_type = "float"\n{extra}\nparameters = {{ kind = "values", key = "k", sql = "SELECT 1" }}\n')
    for question, extra, problem in (
        ("How much? Answer with a number.", "decimals = 2", "must state its precision: 'rounded to 2 decimals'"),
        ("How much? Answer with a number rounded to 1 decimal.", "decimals = 2", "must state its precision"),
        ("How much? Answer with a number rounded to 2 decimals.", "", "needs 'decimals = N'"),
        ("How much? Answer with a number rounded to 2 decimals.", "tolerance = 0.0001", "not a tolerance"),
        ("How much? Answer with a number rounded to 2 decimals.", "decimals = 20", "decimals must be"),
    ):
        (tmp_path / "docs").mkdir(exist_ok=True)
        (tmp_path / "metrics.toml").write_text(entry.format(q=question, extra=extra), encoding="utf-8")
        with pytest.raises(ValueError, match=re.escape(problem)):
            load_definitions(tmp_path)


@pytest.mark.parametrize("metric", FLOAT_METRICS, ids=lambda metric: metric.metric_id)
def test_each_float_metric_fails_one_unit_off_and_passes_half_a_unit_minus_a_hair(metric: Metric) -> None:
    """gold +- one unit of the stated precision (0.01 for "rounded to 2 decimals") is wrong, gold +- half
    of it minus a hair (0.004) is right, on real bindings of the metric's domain."""
    precision = metric.tolerance
    assert isinstance(precision, Precision) and stated_precision(metric.question) == precision
    unit = Decimal(1).scaleb(-precision.decimals)
    within = precision.half_unit - unit / 10  # 0.004 for 2 decimals
    golds = [gold for m, _b, gold, _n in evaluate(metric.domain, 0) if m == metric.metric_id and usable(gold)]
    assert golds, metric.metric_id
    for gold in golds:
        exact = Decimal(repr(gold)) if isinstance(gold, float) else Decimal(gold)  # type: ignore[arg-type]
        for delta, correct in ((unit, False), (-unit, False), (within, True), (-within, True), (Decimal(0), True)):
            answer = str(exact + delta)
            assert check_answer(answer, gold, "float", precision).correct is correct, (metric.metric_id, gold, answer)
