"""Retail bank with a billing arm: customers, their accounts and card/cash transactions, plus invoices and payments.

Planted mess: ~5% of customers have no region and ~3% of accounts no balance; merchant is
NULL for non-purchase transactions; activity is skewed toward a few busy accounts and large
customers (weights ~ 1/rank); a few accounts, transactions and payments reference parent ids
that do not exist; some invoices marked 'paid' have no payment row, and void or overdue
invoices have none by construction.
"""
from __future__ import annotations

import random
from datetime import timedelta

from ._helpers import (
    HISTORY_START,
    LAST_NAMES,
    REFERENCE_DATE,
    maybe_null,
    money,
    orphan_or,
    person_name,
    random_date,
    random_day,
    skewed_picker,
    weighted,
)
from .base import Domain

SCHEMA = """
CREATE TABLE customers (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    segment TEXT NOT NULL,
    region TEXT,
    created_at TEXT NOT NULL
);
CREATE TABLE accounts (
    id INTEGER PRIMARY KEY,
    customer_id INTEGER REFERENCES customers(id),
    account_type TEXT NOT NULL,
    opened_at TEXT NOT NULL,
    balance REAL
);
CREATE TABLE transactions (
    id INTEGER PRIMARY KEY,
    account_id INTEGER REFERENCES accounts(id),
    amount REAL NOT NULL,
    kind TEXT NOT NULL,
    tx_date TEXT NOT NULL,
    merchant TEXT
);
CREATE TABLE invoices (
    id INTEGER PRIMARY KEY,
    customer_id INTEGER REFERENCES customers(id),
    issued_at TEXT NOT NULL,
    due_at TEXT NOT NULL,
    amount REAL NOT NULL,
    status TEXT NOT NULL
);
CREATE TABLE payments (
    id INTEGER PRIMARY KEY,
    invoice_id INTEGER REFERENCES invoices(id),
    paid_at TEXT NOT NULL,
    amount REAL NOT NULL
);
"""

SEGMENTS = (("retail", 55), ("small_business", 25), ("corporate", 12), ("private_banking", 8))
REGIONS = ("North", "South", "East", "West", "Central")
COMPANY_SUFFIXES = ("LLC", "Ltd", "Group", "Partners", "Holdings", "& Co")
ACCOUNT_TYPES = (("checking", 45), ("savings", 30), ("credit", 18), ("brokerage", 7))
# kind -> (weight, typical amount)
KINDS = {"purchase": (50, 45.0), "deposit": (15, 900.0), "withdrawal": (14, 120.0),
         "transfer": (12, 400.0), "fee": (6, 12.0), "refund": (3, 35.0)}
MERCHANTS = ("FreshMart", "QuickFuel", "Cinema City", "BookNook", "Urban Threads", "Cafe Aroma",
             "TechHub", "PharmaPlus", "RideNow", "HomeBase", "StreamBox", "Green Grocer",
             "AirHop", "PetPal", "FitZone", "Noodle Bar")
INVOICE_STATUSES = (("paid", 72), ("overdue", 14), ("partially_paid", 8), ("void", 6))


def _generate(rng: random.Random) -> dict[str, list[tuple]]:
    customers, created = [], {}
    for cid in range(1, rng.randint(250, 320) + 1):
        segment = weighted(rng, SEGMENTS)
        first, last = person_name(rng)
        name = f"{first} {last}" if segment in ("retail", "private_banking") else \
            f"{last} {rng.choice(LAST_NAMES)} {rng.choice(COMPANY_SUFFIXES)}"
        created[cid] = random_day(rng, HISTORY_START, REFERENCE_DATE - timedelta(days=60))
        customers.append((cid, name, segment, maybe_null(rng, rng.choice(REGIONS), 0.05),
                          created[cid].isoformat()))
    n_customers = len(customers)

    accounts, opened = [], {}
    for cid in range(1, n_customers + 1):
        for _ in range(weighted(rng, ((1, 60), (2, 30), (3, 10)))):
            aid = len(accounts) + 1
            owner = orphan_or(rng, cid, n_customers, 0.01)
            kind = weighted(rng, ACCOUNT_TYPES)
            opened[aid] = random_day(rng, created.get(owner, HISTORY_START), REFERENCE_DATE - timedelta(days=30))
            balance = -rng.uniform(0, 4_000) if kind == "credit" else 2_500 * rng.lognormvariate(0, 1.1)
            accounts.append((aid, owner, kind, opened[aid].isoformat(), maybe_null(rng, money(balance), 0.03)))

    account = skewed_picker(rng, range(1, len(accounts) + 1), 0.9)
    merchant = skewed_picker(rng, MERCHANTS, 1.0)
    kinds = [(k, w) for k, (w, _) in KINDS.items()]
    transactions = []
    for tid in range(1, rng.randint(1200, 1500) + 1):
        aid = orphan_or(rng, account(), len(accounts), 0.01)
        kind = weighted(rng, kinds)
        transactions.append((tid, aid, money(KINDS[kind][1] * rng.lognormvariate(0, 0.7)), kind,
                             random_day(rng, opened.get(aid, HISTORY_START), REFERENCE_DATE).isoformat(),
                             merchant() if kind in ("purchase", "refund") else None))
    transactions.sort(key=lambda row: (row[4], row[0]))
    transactions = [(i, *row[1:]) for i, row in enumerate(transactions, 1)]

    billed = skewed_picker(rng, range(1, n_customers + 1), 1.0)
    invoices, payments = [], []
    for iid in range(1, rng.randint(380, 480) + 1):
        cid = orphan_or(rng, billed(), n_customers, 0.01)
        terms = rng.choice((15, 30, 30, 45, 60))
        issued = random_day(rng, created.get(cid, HISTORY_START), REFERENCE_DATE - timedelta(days=terms))
        due = issued + timedelta(days=terms)
        amount = money(rng.choice((250, 500, 1_200, 3_000)) * rng.lognormvariate(0, 0.5))
        status = weighted(rng, INVOICE_STATUSES)
        invoices.append((iid, cid, issued.isoformat(), due.isoformat(), amount, status))
        if status == "paid" and rng.random() < 0.04:
            continue  # marked paid, but the payment never got recorded
        if status == "paid":
            shares = [1.0] if rng.random() < 0.8 else [0.5, 0.5]  # sometimes paid in two instalments
        else:
            shares = [rng.uniform(0.2, 0.8)] if status == "partially_paid" else []
        paid_on = issued
        for share in shares:
            paid_on = random_day(rng, paid_on, min(REFERENCE_DATE, due + timedelta(days=20)))
            payments.append((len(payments) + 1, iid, paid_on.isoformat(), money(amount * share)))
    for _ in range(rng.randint(2, 5)):  # payments whose invoice was deleted
        payments.append((len(payments) + 1, len(invoices) + rng.randint(1, 40), random_date(rng),
                         money(rng.uniform(50, 900))))

    return {"customers": customers, "accounts": accounts, "transactions": transactions,
            "invoices": invoices, "payments": payments}


DOMAIN = Domain(
    name="finance",
    description="A bank's customers with their accounts and transactions, alongside invoices billed to them and the payments received.",
    schema_sql=SCHEMA,
    generate=_generate,
    nouns={"customers": "customers", "accounts": "accounts", "transactions": "transactions",
           "invoices": "invoices", "payments": "payments"},
)
