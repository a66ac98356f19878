"""env_server.tasks.external: the defog-data glossaries as documents, and the metrics they define.

Every glossary entry becomes one current document with its provenance; every metric cites existing
definition documents, asks with the business term (never the formula), and its gold and naive SQL
run on the transpiled databases for every binding, differing on at least 120 bindings in all.
"""
from __future__ import annotations

import json
import random
import sqlite3
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest

from env_server.grading.answers import Precision, check_answer, stated_precision
from env_server.ingest.transpile import sqlite_from_file
from env_server.tasks.external import (
    DEFOG_DBS,
    DEFOG_SOURCE,
    ENV_VAR,
    defog_dir,
    domain_name,
    external_metrics,
    glossary_docs,
)
from env_server.tasks.grounding import DOC_ID, Doc, Metric

MIN_DIFFERING_BINDINGS = 120


def _root() -> Path:
    """The defog-data folder, or skip the test."""
    try:
        return defog_dir()
    except FileNotFoundError as err:
        pytest.skip(f"defog-data is not available: {err}")


@pytest.fixture(scope="module")
def docs() -> dict[str, Doc]:
    return {doc.doc_id: doc for doc in glossary_docs(_root())}


@pytest.fixture(scope="module")
def databases() -> dict[str, sqlite3.Connection]:
    root = _root()
    return {domain_name(db): sqlite_from_file(root / db / f"{db}.sql") for db in DEFOG_DBS}


def _glossary_lines(db: str) -> list[str]:
    glossary = json.loads((_root() / db / f"{db}.json").read_text(encoding="utf-8"))["glossary"]
    return glossary.splitlines()


def _differs(metric: Metric, gold: object, naive: object) -> bool:
    if gold is None:
        return False
    if naive is None:
        return True
    return not check_answer(naive, gold, "float", metric.tolerance).correct


# ---------------------------------------------------------------------------------------------
# Locating the data
# ---------------------------------------------------------------------------------------------


def test_defog_dir_follows_the_environment(monkeypatch, tmp_path):
    root = _root()
    monkeypatch.setenv(ENV_VAR, str(root.parent))
    assert defog_dir() == root.parent / "defog-data"
    monkeypatch.setenv(ENV_VAR, str(root))
    assert defog_dir() == root
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    with pytest.raises(FileNotFoundError, match=ENV_VAR):
        defog_dir()


def test_domain_names():
    assert domain_name("broker") == "external-broker"
    assert domain_name("car_dealership") == "external-car_dealership"


# ---------------------------------------------------------------------------------------------
# Documents
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("db", DEFOG_DBS)
def test_one_document_per_glossary_entry(db, docs):
    lines = _glossary_lines(db)
    entries = [number for number, line in enumerate(lines, start=1) if line.startswith("- ")]
    mine = [doc for doc in docs.values() if doc.domain == domain_name(db)]
    assert len(mine) == len(entries)
    for doc, number in zip(mine, entries):
        line = lines[number - 1][2:].strip()
        assert doc.source == f"{DEFOG_SOURCE}, {db}/{db}.json glossary line {number}"
        assert doc.body.splitlines()[0] == line
        assert doc.kind == ("definition" if "=" in line else "note")
        assert doc.status == "current" and doc.superseded_by is None
        assert DOC_ID.match(doc.doc_id) and doc.doc_id.startswith(db.replace("_", "-") + "-glossary-")
        assert doc.title and len(doc.title) <= 100


def test_document_ids_are_unique_and_numbered_in_file_order(docs):
    all_docs = glossary_docs(_root())
    assert len({d.doc_id for d in all_docs}) == len(all_docs)
    broker = [d.doc_id for d in all_docs if d.domain == "external-broker"]
    assert broker == [f"broker-glossary-{n:02d}" for n in range(1, len(broker) + 1)]


def test_titles_nested_bullets_and_headings(docs):
    assert docs["broker-glossary-04"].title == "ADV (Average Daily Volume)"
    assert docs["broker-glossary-05"].title == "ATH (All Time High)"
    assert docs["car-dealership-glossary-08"].title == "Profit"
    assert docs["ewallet-glossary-04"].title == "Total Transaction Volume (TTV)"
    coupon_rows = docs["ewallet-glossary-02"]
    assert coupon_rows.kind == "note" and len(coupon_rows.body.splitlines()) == 4
    assert "- 2nd row where coupon_id is NOT NULL" in coupon_rows.body
    assert not any("Additional outcomes documented" in d.body for d in docs.values())
    assert docs["derm-treatment-glossary-09"].body.startswith("day0_pasi_score")


# ---------------------------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------------------------


def test_metrics_cite_existing_definitions(docs):
    metrics = external_metrics()
    assert len(metrics) >= 12
    assert len({m.metric_id for m in metrics}) == len(metrics)
    for metric in metrics:
        assert 1 <= len(metric.doc_ids) <= 2, metric.metric_id
        assert all(doc_id in docs for doc_id in metric.doc_ids), metric.metric_id
        definition = docs[metric.doc_ids[0]]
        assert definition.kind == "definition" and definition.domain == metric.domain, metric.metric_id
        assert metric.answer_type == "float" and isinstance(metric.tolerance, Precision)
        assert stated_precision(metric.question) == metric.tolerance, metric.metric_id
        assert metric.gold_sql != metric.naive_sql


def test_questions_use_the_term_not_the_formula(docs):
    for metric in external_metrics():
        question = metric.question
        for formula in ("SUM(", "AVG(", "COUNT(", "MAX(", "=", "/", "sbDp", "sbTx", "payment_amount"):
            assert formula not in question, (metric.metric_id, formula)
        term = docs[metric.doc_ids[0]].title
        acronym = term[term.index("(") + 1 : term.index(")")] if "(" in term else term
        short = acronym if acronym.isupper() else term.split(" (")[0]
        assert short.lower() in question.lower(), (metric.metric_id, short)


def test_gold_and_naive_run_for_every_binding(databases):
    differing: dict[str, int] = {}
    for metric in external_metrics():
        conn = databases[metric.domain]
        bindings = metric.parameters(conn, random.Random(7))
        assert bindings, metric.metric_id
        differing[metric.metric_id] = 0
        for binding in bindings:
            assert all(isinstance(v, str) for v in binding.values())
            metric.question.format(**binding)
            gold = conn.execute(metric.gold_sql.format(**binding)).fetchall()
            naive = conn.execute(metric.naive_sql.format(**binding)).fetchall()
            assert len(gold) == 1 and len(gold[0]) == 1, (metric.metric_id, binding)
            assert len(naive) == 1 and len(naive[0]) == 1, (metric.metric_id, binding)
            differing[metric.metric_id] += _differs(metric, gold[0][0], naive[0][0])
    assert all(count > 0 for count in differing.values()), differing
    assert sum(differing.values()) >= MIN_DIFFERING_BINDINGS, differing


def test_parameters_are_seeded_and_quote_values(databases):
    conn = databases["external-broker"]
    atp = next(m for m in external_metrics() if m.metric_id == "external-broker-atp")
    assert atp.parameters(conn, random.Random(1)) == atp.parameters(conn, random.Random(1))
    copy = sqlite3.connect(":memory:")
    conn.backup(copy)
    copy.execute("INSERT INTO sbCustomer (sbCustId, sbCustName, sbCustEmail, sbCustJoinDate, sbCustStatus) "
                 "VALUES ('C900', 'Miles O''Brien', 'm@x', '2024-01-01', 'active')")
    for tx, shares in (("TX900", 10), ("TX901", 30)):
        copy.execute("INSERT INTO sbTransaction VALUES (?, 'C900', 'T001', '2024-01-02 10:00:00', 'buy', ?, 100, ?, "
                     "'USD', 1, 1, NULL, NULL, 'success')", (tx, shares, shares * 100))
    binding = next(b for b in atp.parameters(copy, random.Random(0)) if b["customer"] == "Miles O'Brien")
    assert binding["customer_sql"] == "'Miles O''Brien'"
    assert copy.execute(atp.gold_sql.format(**binding)).fetchone() == (100.0,)


def test_period_bindings_are_iso_windows(databases):
    profit = next(m for m in external_metrics() if m.metric_id == "external-car-dealership-profit-period")
    bindings = profit.parameters(databases["external-car_dealership"], random.Random(0))
    by_name = {b["period"]: b for b in bindings}
    assert by_name["March 2023"] == {"period": "March 2023", "start": "2023-03-01", "end": "2023-04-01"}
    assert by_name["2024"] == {"period": "2024", "start": "2024-01-01", "end": "2025-01-01"}
    assert by_name["Q4 2024 (October to December)"]["end"] == "2025-01-01"


def test_derm_treatment_has_documents_but_no_metrics(docs, databases):
    """Its glossary metrics need day0_* baseline columns that the published outcomes table lacks."""
    assert any(d.domain == "external-derm_treatment" and d.kind == "definition" for d in docs.values())
    assert not [m for m in external_metrics() if m.domain == "external-derm_treatment"]
    columns = {r[1] for r in databases["external-derm_treatment"].execute("PRAGMA table_info(outcomes)")}
    assert not {c for c in columns if c.startswith("day0_")}


# ---------------------------------------------------------------------------------------------
# Graded at the precision the question states
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("metric", external_metrics(), ids=lambda metric: metric.metric_id)
def test_each_metric_fails_one_unit_off_and_passes_half_a_unit_minus_a_hair(metric, databases):
    """The questions say "rounded to N decimals" and the gold is left unrounded: gold +- one unit of that
    precision is wrong, gold +- half a unit minus a hair is right, and so is the gold rounded as asked."""
    precision = metric.tolerance
    assert isinstance(precision, Precision) and stated_precision(metric.question) == precision
    assert precision.decimals == (4 if metric.metric_id == "external-ewallet-apm-period" else 2)
    unit = Decimal(1).scaleb(-precision.decimals)
    within = precision.half_unit - unit / 10  # 0.004 for 2 decimals
    conn = databases[metric.domain]
    checked = 0
    for binding in metric.parameters(conn, random.Random(7))[:4]:
        gold = conn.execute(metric.gold_sql.format(**binding)).fetchone()[0]
        if gold is None:
            continue
        exact = Decimal(repr(gold)) if isinstance(gold, float) else Decimal(gold)
        rounded = exact.quantize(unit, rounding=ROUND_HALF_UP)
        for answer, correct in ((exact + unit, False), (exact - unit, False), (exact + within, True),
                                (exact - within, True), (rounded, True), (exact + 100 * unit, False)):
            assert check_answer(str(answer), gold, "float", precision).correct is correct, (metric.metric_id, gold, answer)
        checked += 1
    assert checked, metric.metric_id
