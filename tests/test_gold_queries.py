"""The gold-query synthesiser: deterministic, runs on every domain, covers the SQL features."""
from __future__ import annotations

import random
import sqlite3

import pytest
import sqlglot
from sqlglot import exp

from env_server.core.schema import introspect
from env_server.core.domains import DOMAINS, populate
from env_server.tasks.gold_queries import TEMPLATE_NAMES, synthesise


def _golds(domain: str, seed: int, rng_seed: int = 0):
    conn = sqlite3.connect(":memory:")
    populate(conn, DOMAINS[domain], seed)
    return conn, synthesise(conn, introspect(conn), random.Random(rng_seed), DOMAINS[domain].nouns)


@pytest.mark.parametrize("domain", sorted(DOMAINS))
def test_every_gold_query_runs_and_says_what_it_means(domain):
    conn, golds = _golds(domain, 1)
    assert len(golds) >= 12
    for gold in golds:
        conn.execute(gold.sql).fetchall()
        assert len(gold.question) > 20 and gold.template in TEMPLATE_NAMES
        tree = sqlglot.parse_one(gold.sql, read="sqlite")
        if tree.args.get("limit") is not None:
            assert gold.order_matters, "LIMIT without a deterministic order"


def test_synthesis_is_deterministic():
    a = [g.sql for g in _golds("finance", 3, 5)[1]]
    b = [g.sql for g in _golds("finance", 3, 5)[1]]
    c = [g.sql for g in _golds("finance", 3, 6)[1]]
    assert a == b and a != c


def test_templates_cover_the_required_sql_features():
    features = set()
    for domain in DOMAINS:
        for gold in _golds(domain, 2)[1]:
            tree = sqlglot.parse_one(gold.sql, read="sqlite")
            features |= {
                name
                for name, present in {
                    "filter": tree.find(exp.Where) is not None,
                    "join": tree.find(exp.Join) is not None,
                    "aggregate": tree.find(exp.AggFunc) is not None,
                    "group_by": tree.find(exp.Group) is not None,
                    "having": tree.find(exp.Having) is not None,
                    "order_limit": tree.args.get("limit") is not None and tree.find(exp.Order) is not None,
                    "subquery": tree.find(exp.Subquery) is not None or tree.find(exp.In) is not None,
                    "cte": tree.find(exp.With) is not None,
                    "window": tree.find(exp.Window) is not None,
                    "date_logic": "strftime" in gold.sql or "-01'" in gold.sql,
                }.items()
                if present
            }
    assert features == {"filter", "join", "aggregate", "group_by", "having", "order_limit", "subquery", "cte",
                        "window", "date_logic"}
