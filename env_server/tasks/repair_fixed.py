"""The five fixed repair tasks of the "DataOps-Env" seed design, on small embedded databases.

1. normalise phone formats and email casing and spaces in ``users``;
2. migrate valid rows from ``legacy_orders`` into ``current_orders`` (renamed columns, negative
   amounts excluded);
3. delete orphaned invoices, then create ``monthly_revenue``;
4. impute NULL ``age`` (rounded mean), NULL ``salary`` (mean) and NULL ``department``
   (``'General'``) in ``employees``;
5. dedupe ``customers``, keeping the lowest id per email, with deletes only.

Each database is generated here from a fixed seed and embedded in the task as ``schema_sql`` and
``data_sql``; each reference solution is the task's ``gold_repair_sql``, which scores 1.0 by
construction of the grader and is checked by the build and the tests. Every reference statement is
targeted (a WHERE that selects the rows to change), so the reviewer-guarded path lets it through.
"""
from __future__ import annotations

import random

from env_server.core.domains._helpers import (
    CITIES,
    FIRST_NAMES,
    LAST_NAMES,
    random_date,
)
from env_server.tasks.spec import DbSpec, Task


def _sql_value(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return repr(value)


def _inserts(table: str, rows: list[tuple]) -> str:
    return "\n".join(f"INSERT INTO {table} VALUES ({', '.join(_sql_value(v) for v in row)});" for row in rows)


def _email(first: str, last: str, n: int) -> str:
    return f"{first}.{last}{n}@example.com".lower().replace("'", "").replace("ü", "u")


def _users(rng: random.Random) -> tuple[str, str]:
    schema = "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL, phone TEXT);"
    rows = []
    for uid in range(1, 81):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        email = _email(first, last, uid)
        if rng.random() < 0.4:
            email = rng.choice((email.upper(), email.title(), f"  {email}", f"{email} ", f" {email.upper()} "))
        a, b, c = rng.randint(200, 989), rng.randint(100, 999), rng.randint(0, 9999)
        phone = rng.choice((
            f"{a}-{b}-{c:04d}", f"({a}) {b}-{c:04d}", f"{a}.{b}.{c:04d}", f"{a}{b}{c:04d}", f"+1 {a} {b} {c:04d}",
        ))
        rows.append((uid, f"{first} {last}", email, None if rng.random() < 0.05 else phone))
    return schema, _inserts("users", rows)


def _legacy(rng: random.Random) -> tuple[str, str]:
    schema = (
        "CREATE TABLE current_orders (id INTEGER PRIMARY KEY, customer TEXT NOT NULL, order_date TEXT NOT NULL, "
        "amount REAL NOT NULL);\n"
        "CREATE TABLE legacy_orders (order_id INTEGER, cust_name TEXT, order_dt TEXT, amt REAL);"
    )
    current, legacy = [], []
    for oid in range(1, 121):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        row = (oid, f"{first} {last}", random_date(rng), round(rng.uniform(5, 400), 2))
        if oid <= 70:
            current.append(row)
        else:
            amount = -row[3] if rng.random() < 0.2 else row[3]
            legacy.append((oid, row[1], row[2], amount))
    return schema, _inserts("current_orders", current) + "\n" + _inserts("legacy_orders", legacy)


def _invoices(rng: random.Random) -> tuple[str, str]:
    schema = (
        "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, city TEXT);\n"
        "CREATE TABLE invoices (id INTEGER PRIMARY KEY, customer_id INTEGER REFERENCES customers(id), "
        "invoice_date TEXT NOT NULL, amount REAL NOT NULL);"
    )
    customers = [(cid, " ".join((rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES))), rng.choice(CITIES)) for cid in range(1, 41)]
    invoices = []
    for iid in range(1, 161):
        cid = rng.randint(41, 60) if rng.random() < 0.12 else rng.randint(1, 40)
        invoices.append((iid, cid, random_date(rng), round(rng.uniform(20, 900), 2)))
    return schema, _inserts("customers", customers) + "\n" + _inserts("invoices", invoices)


def _employees(rng: random.Random) -> tuple[str, str]:
    schema = (
        "CREATE TABLE employees (id INTEGER PRIMARY KEY, name TEXT NOT NULL, age INTEGER, salary REAL, department TEXT);"
    )
    departments = ("Engineering", "Sales", "Finance", "Support", "Marketing")
    rows = []
    for eid in range(1, 101):
        rows.append((
            eid,
            f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}",
            None if rng.random() < 0.12 else rng.randint(22, 64),
            None if rng.random() < 0.1 else round(rng.uniform(38_000, 150_000), 2),
            None if rng.random() < 0.1 else rng.choice(departments),
        ))
    return schema, _inserts("employees", rows)


def _customers(rng: random.Random) -> tuple[str, str]:
    schema = "CREATE TABLE customers (id INTEGER PRIMARY KEY, email TEXT NOT NULL, name TEXT NOT NULL, city TEXT);"
    rows = []
    people = [(rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)) for _ in range(70)]
    for cid in range(1, 111):
        n = rng.randrange(len(people)) if cid > 70 else cid - 1
        first, last = people[n]
        rows.append((cid, _email(first, last, n), f"{first} {last}", rng.choice(CITIES)))
    return schema, _inserts("customers", rows)


PHONE_DIGITS = (
    "REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(phone, '(', ''), ')', ''), ' ', ''), '-', ''), '.', ''), '+', '')"
)


def fixed_tasks() -> list[Task]:
    """The five "DataOps-Env" repair tasks, each with its reference solution as ``gold_repair_sql``."""
    specs = []
    schema, data = _users(random.Random("repair-fixed-users"))
    specs.append(dict(
        task_id="repair-fixed-normalise_users",
        difficulty="medium",
        corruption="format_drift",
        db=DbSpec(schema_sql=schema, data_sql=data),
        question=(
            "In users, phone numbers come in several formats ('(555) 123-4567', '555.123.4567', '5551234567', "
            "'+1 555 123 4567', ...) and emails have mixed case and stray spaces. Rewrite every phone as "
            "'XXX-XXX-XXXX' (its ten digits, dropping a leading country code 1; NULL stays NULL) and every email in "
            "lower case without leading or trailing spaces."
        ),
        gold_repair_sql=[
            "UPDATE users SET email = LOWER(TRIM(email)) WHERE email <> LOWER(TRIM(email))",
            f"UPDATE users SET phone = {PHONE_DIGITS} WHERE phone <> {PHONE_DIGITS}",
            "UPDATE users SET phone = SUBSTR(phone, 2) WHERE LENGTH(phone) = 11 AND phone LIKE '1%'",
            "UPDATE users SET phone = SUBSTR(phone, 1, 3) || '-' || SUBSTR(phone, 4, 3) || '-' || SUBSTR(phone, 7, 4) "
            "WHERE LENGTH(phone) = 10",
        ],
    ))
    schema, data = _legacy(random.Random("repair-fixed-legacy"))
    specs.append(dict(
        task_id="repair-fixed-migrate_legacy_orders",
        difficulty="medium",
        corruption="legacy_migration",
        db=DbSpec(schema_sql=schema, data_sql=data),
        question=(
            "Orders from the old system are still in legacy_orders(order_id, cust_name, order_dt, amt). Copy every "
            "valid one into current_orders(id, customer, order_date, amount), mapping order_id to id, cust_name to "
            "customer, order_dt to order_date and amt to amount. Rows with a negative amount are invalid: leave them "
            "out. Leave legacy_orders as it is."
        ),
        gold_repair_sql=[
            "INSERT INTO current_orders (id, customer, order_date, amount) "
            "SELECT order_id, cust_name, order_dt, amt FROM legacy_orders WHERE amt >= 0",
        ],
    ))
    schema, data = _invoices(random.Random("repair-fixed-invoices"))
    specs.append(dict(
        task_id="repair-fixed-orphans_monthly_revenue",
        difficulty="hard",
        corruption="orphans",
        db=DbSpec(schema_sql=schema, data_sql=data),
        question=(
            "Some invoices point at customers that do not exist. Delete those orphaned invoices, then create the "
            "table monthly_revenue(month, revenue): one row per calendar month that has invoices, month as 'YYYY-MM' "
            "(from invoice_date) and revenue the sum of the remaining invoices' amounts rounded to 2 decimals."
        ),
        gold_repair_sql=[
            "DELETE FROM invoices WHERE customer_id NOT IN (SELECT id FROM customers)",
            "CREATE TABLE monthly_revenue AS SELECT SUBSTR(invoice_date, 1, 7) AS month, ROUND(SUM(amount), 2) AS revenue "
            "FROM invoices GROUP BY SUBSTR(invoice_date, 1, 7)",
        ],
    ))
    schema, data = _employees(random.Random("repair-fixed-employees"))
    specs.append(dict(
        task_id="repair-fixed-impute_employees",
        difficulty="medium",
        corruption="null_impute",
        db=DbSpec(schema_sql=schema, data_sql=data),
        question=(
            "employees has missing values. Set every NULL age to the mean of the known ages rounded to a whole "
            "number, every NULL salary to the mean of the known salaries (not rounded), and every NULL department "
            "to 'General'. Compute each mean before filling that column."
        ),
        gold_repair_sql=[
            "UPDATE employees SET age = (SELECT ROUND(AVG(age)) FROM employees WHERE age IS NOT NULL) WHERE age IS NULL",
            "UPDATE employees SET salary = (SELECT AVG(salary) FROM employees WHERE salary IS NOT NULL) WHERE salary IS NULL",
            "UPDATE employees SET department = 'General' WHERE department IS NULL",
        ],
    ))
    schema, data = _customers(random.Random("repair-fixed-customers"))
    specs.append(dict(
        task_id="repair-fixed-dedupe_customers",
        difficulty="easy",
        corruption="duplicates",
        db=DbSpec(schema_sql=schema, data_sql=data),
        question=(
            "customers holds duplicate records: several rows share an email. Keep only the row with the lowest id "
            "for each email and delete the others. Use deletes only."
        ),
        gold_repair_sql=["DELETE FROM customers WHERE id NOT IN (SELECT MIN(id) FROM customers GROUP BY email)"],
    ))
    return [
        Task(family="repair", split="fixed", tags=["fixed", "seed:dataops-env", f"corruption:{s['corruption']}"], **s)
        for s in specs
    ]
