"""The business-documents corpus and the grounded metrics of the seven generated domains.

``DOCS`` is the company wiki the grounded family searches: for every generated domain
(ecommerce, hr, finance, logistics, education, healthcare, streaming) the *current* definitions
of its business terms and the policies they rely on, plus deliberate distractors that say what
they are in their own text: *superseded* older definitions, *drafts* that were never adopted,
and *near-synonyms* (current documents about a different concept with a similar name). A few
``general`` documents hold company-wide conventions.

``METRICS`` turns the current definitions into questions. Each ``Metric`` carries the gold SQL
that applies the current definition, the naive SQL a reader who skipped the documents (or
followed a superseded one) would write, the documents a correct answer cites, the distractors
about the same concept, and a ``parameters`` function that draws question bindings (months,
departments, regions, ...) from the task database.

Binding conventions: every binding maps names to strings. A value taken from the data comes with
two keys, ``<name>`` (plain text, for the question) and ``<name>_sql`` (the same value as a quoted
SQLite string literal, for the SQL templates). Months (``month``, ``YYYY-MM``) and terms (``term``,
``YYYY-SP|SU|FA``) are validated against a strict pattern and quoted in the templates themselves;
their human-readable forms are ``month_name`` ("March 2024") and ``term_name`` ("Fall 2024").

All dates are relative to the domains' reference date, 2024-12-31. Everything here is immutable:
module-level tuples of frozen dataclasses.
"""
from __future__ import annotations

import random
import re
import sqlite3
from dataclasses import dataclass

from env_server.tasks.grounding import Doc, Metric

__all__ = ["DOCS", "GENERATED_DOMAINS", "METRICS", "docs_for", "metrics_for", "sql_literal"]

GENERATED_DOMAINS: tuple[str, ...] = (
    "ecommerce", "hr", "finance", "logistics", "education", "healthcare", "streaming",
)
"""The generated domains the corpus covers (``general`` documents apply to all of them)."""

_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_TERM = re.compile(r"^\d{4}-(SP|SU|FA)$")
_MONTH_NAMES = ("January", "February", "March", "April", "May", "June", "July", "August",
                "September", "October", "November", "December")
_TERM_NAMES = {"SP": "Spring", "SU": "Summer", "FA": "Fall"}


def sql_literal(value: str) -> str:
    """``value`` as a single-quoted SQLite string literal (quotes doubled, NUL refused)."""
    if "\x00" in value:
        raise ValueError("a SQL string literal cannot hold a NUL character")
    return "'" + value.replace("'", "''") + "'"


def _pick(rng: random.Random, values: list[str], limit: int) -> list[str]:
    """At most ``limit`` of the sorted ``values``: all of them, or a seeded sample kept in order."""
    values = sorted(set(values))
    if len(values) > limit:
        values = sorted(rng.sample(values, limit))
    return values


@dataclass(frozen=True)
class _Months:
    """Parameters: calendar months (``month``, ``month_name``) that ``sql`` finds in the data.

    ``sql`` returns one ``YYYY-MM`` text per row; months outside ``first``..``last`` are dropped.
    """

    sql: str
    first: str = "2024-01"
    last: str = "2024-12"
    limit: int = 12

    def __call__(self, conn: sqlite3.Connection, rng: random.Random) -> list[dict[str, str]]:
        """Candidate month bindings, oldest first."""
        found = [str(row[0]) for row in conn.execute(self.sql) if row[0] is not None]
        months = [m for m in found if _MONTH.match(m) and self.first <= m <= self.last]
        return [
            {"month": m, "month_name": f"{_MONTH_NAMES[int(m[5:]) - 1]} {m[:4]}"}
            for m in _pick(rng, months, self.limit)
        ]


@dataclass(frozen=True)
class _Terms:
    """Parameters: academic terms (``term``, ``term_name``) that ``sql`` finds in the data."""

    sql: str
    limit: int = 8

    def __call__(self, conn: sqlite3.Connection, rng: random.Random) -> list[dict[str, str]]:
        """Candidate term bindings, in code order."""
        terms = [str(row[0]) for row in conn.execute(self.sql) if row[0] is not None and _TERM.match(str(row[0]))]
        return [{"term": t, "term_name": f"{_TERM_NAMES[t[5:]]} {t[:4]}"} for t in _pick(rng, terms, self.limit)]


@dataclass(frozen=True)
class _Values:
    """Parameters: text values of one kind (a department, a region, ...) that ``sql`` finds in the data.

    Each binding holds ``key`` (the plain value) and ``key_sql`` (it as a quoted SQL literal).
    """

    key: str
    sql: str
    limit: int = 10

    def __call__(self, conn: sqlite3.Connection, rng: random.Random) -> list[dict[str, str]]:
        """Candidate value bindings, in sorted order."""
        values = [str(row[0]) for row in conn.execute(self.sql) if row[0] is not None and str(row[0]).strip()]
        return [{self.key: v, f"{self.key}_sql": sql_literal(v)} for v in _pick(rng, values, self.limit)]


_CITE = "Cite the documents you used."

# --------------------------------------------------------------------------------------------
# general
# --------------------------------------------------------------------------------------------

_GENERAL_DOCS: tuple[Doc, ...] = (
    Doc(
        doc_id="general-metric-governance",
        title="Metric governance: how definitions are maintained",
        domain="general",
        kind="note",
        status="current",
        body=(
            "Every business term used in company reporting has exactly one current definition in this wiki. "
            "When a definition changes, the old page is kept for audit, marked superseded, and points to its "
            "replacement; proposals are marked draft until the metrics council adopts them. "
            "Only current documents define anything: never compute a reported figure from a superseded or "
            "draft page. Cite the current definition, and any policy it relies on, with every reported number."
        ),
    ),
    Doc(
        doc_id="general-reporting-calendar",
        title="Reporting calendar and date windows",
        domain="general",
        kind="policy",
        status="current",
        body=(
            "The reporting date for the 2024 year-end close is 2024-12-31; 'as of' figures are measured on that day. "
            "A month is a calendar month of the relevant date column, and a year is a calendar year. "
            "A trailing window of N days ends on and includes 2024-12-31, so the 90-day window starts on "
            "2024-10-03 and the 180-day window on 2024-07-05. "
            "Timestamps are compared by their text, so a window starting on 2024-10-03 includes every time of that day."
        ),
    ),
    Doc(
        doc_id="general-orphan-records-policy",
        title="Data quality policy: records pointing at deleted parents",
        domain="general",
        kind="policy",
        status="current",
        body=(
            "Some rows reference a parent id that no longer exists, for example an order of a deleted user "
            "or a play of a track that was taken down. "
            "Unless a definition says otherwise, such orphaned rows are left out of counts of people and "
            "entities (customers, employees, students, drivers, listeners). "
            "Each metric's definition states explicitly how orphaned rows are treated where it matters."
        ),
    ),
    Doc(
        doc_id="general-rounding-policy",
        title="Rounding and units policy",
        domain="general",
        kind="policy",
        status="current",
        body=(
            "Reported figures are rounded once, at the end, to the precision stated in their definition. "
            "Money is in USD and, unless stated otherwise, rounded to 2 decimal places; percentages are on a "
            "0 to 100 scale. Counts are whole numbers and are never rounded."
        ),
    ),
)

# --------------------------------------------------------------------------------------------
# ecommerce
# --------------------------------------------------------------------------------------------

_ECOMMERCE_DOCS: tuple[Doc, ...] = (
    Doc(
        doc_id="ecommerce-active-customer",
        title="Active customer (current definition)",
        domain="ecommerce",
        kind="definition",
        status="current",
        body=(
            "An active customer for a calendar month is a registered user who placed at least one order with "
            "status 'completed' dated (orders.order_date) in that month. "
            "Pending, cancelled and refunded orders do not make anyone active, and orders whose user_id no "
            "longer exists in the users table are ignored. "
            "Each customer counts once per month, however many orders they placed. "
            "This definition replaced ecommerce-active-customer-2023 on 2024-03-01."
        ),
    ),
    Doc(
        doc_id="ecommerce-active-customer-2023",
        title="Active customer (2023 definition)",
        domain="ecommerce",
        kind="definition",
        status="superseded",
        superseded_by="ecommerce-active-customer",
        body=(
            "Superseded on 2024-03-01 by ecommerce-active-customer; do not use. "
            "Under the 2023 definition a customer was active in a month if any order row carried their user_id "
            "in that month, whatever the order status. "
            "Finance retired it because cancelled and refunded orders inflated the count."
        ),
    ),
    Doc(
        doc_id="ecommerce-active-user-marketing",
        title="Active user (marketing)",
        domain="ecommerce",
        kind="definition",
        status="current",
        body=(
            "Marketing's active user is a different concept from the active customer used in finance reporting "
            "(ecommerce-active-customer). "
            "A user is active in a calendar month if the events table has at least one event of type 'login' "
            "for their user_id in that month; page views, add-to-cart and checkout events alone do not count. "
            "Anonymous events (NULL user_id) and events of user ids missing from the users table are excluded, "
            "and each user counts once per month."
        ),
    ),
    Doc(
        doc_id="ecommerce-net-revenue",
        title="Net revenue (current definition)",
        domain="ecommerce",
        kind="definition",
        status="current",
        body=(
            "Net revenue for a period is the sum of quantity times unit_price over the order lines "
            "(order_items) of the orders that count as revenue under ecommerce-revenue-policy, with orders "
            "placed in the period by orders.order_date. "
            "Do not use orders.total_amount for revenue: it is a cached checkout figure and is missing on some orders. "
            "Net revenue is reported in USD, rounded to 2 decimal places."
        ),
    ),
    Doc(
        doc_id="ecommerce-revenue-policy",
        title="Revenue reporting policy",
        domain="ecommerce",
        kind="policy",
        status="current",
        body=(
            "Only orders with status 'completed' are recognised as revenue; pending orders are not yet earned, "
            "and cancelled and refunded orders are excluded entirely. "
            "Orders are attributed to the calendar month of their order_date. "
            "All amounts are in a single currency, USD, so no conversion applies. "
            "An order whose user account was later deleted still counts toward revenue totals."
        ),
    ),
    Doc(
        doc_id="ecommerce-gross-revenue-2022",
        title="Revenue (2022 definition)",
        domain="ecommerce",
        kind="definition",
        status="superseded",
        superseded_by="ecommerce-net-revenue",
        body=(
            "Superseded on 2024-03-01 by ecommerce-net-revenue; do not use. "
            "The 2022 revenue figure was the sum of orders.total_amount over every order placed in the period, "
            "regardless of status. "
            "It counted refunded and cancelled orders and silently dropped orders with a missing total."
        ),
    ),
    Doc(
        doc_id="ecommerce-net-revenue-fee-draft",
        title="Net revenue after payment fees (proposal)",
        domain="ecommerce",
        kind="definition",
        status="draft",
        superseded_by="ecommerce-net-revenue",
        body=(
            "Draft, not adopted; see ecommerce-net-revenue. "
            "This proposal would deduct an estimated 2.9% payment-processing fee from completed-order revenue "
            "before reporting it. "
            "The finance committee has not approved it, so reported net revenue deducts no fee."
        ),
    ),
    Doc(
        doc_id="ecommerce-average-order-value",
        title="Average order value (AOV)",
        domain="ecommerce",
        kind="definition",
        status="current",
        body=(
            "Average order value is net revenue divided by the number of distinct orders that produced it: only "
            "orders counted as revenue under ecommerce-revenue-policy that have at least one order line, each "
            "valued at the sum of quantity times unit_price of its lines. "
            "For a plan breakdown, an order belongs to the plan of its user (users.plan via orders.user_id); "
            "orders of deleted users have no plan and are left out. "
            "AOV is reported in USD, rounded to 2 decimal places."
        ),
    ),
    Doc(
        doc_id="ecommerce-average-basket-size",
        title="Average basket size (merchandising)",
        domain="ecommerce",
        kind="definition",
        status="current",
        body=(
            "Average basket size is a merchandising measure, not a revenue measure: the mean number of units "
            "(sum of order_items.quantity) per order that has at least one line. "
            "It is often confused with average order value, which is measured in dollars and defined in "
            "ecommerce-average-order-value."
        ),
    ),
    Doc(
        doc_id="ecommerce-churned-customer",
        title="Churned customer (current definition)",
        domain="ecommerce",
        kind="definition",
        status="current",
        body=(
            "As of the reporting date 2024-12-31, a churned customer is a registered user with at least one "
            "'completed' order at any time but no 'completed' order dated in the 180 days ending 2024-12-31, "
            "that is none on or after 2024-07-05. "
            "Users who never completed an order are prospects, not churned customers, and are not counted. "
            "Orders with any other status are ignored for both conditions. "
            "Plan breakdowns use users.plan."
        ),
    ),
    Doc(
        doc_id="ecommerce-churned-customer-draft",
        title="Churn on a 90-day window (proposal)",
        domain="ecommerce",
        kind="definition",
        status="draft",
        superseded_by="ecommerce-churned-customer",
        body=(
            "Draft, not adopted; see ecommerce-churned-customer. "
            "Growth proposed shortening the churn window to 90 days and counting every user without a recent "
            "order of any status, including users who never ordered. "
            "The proposal was rejected and the 180-day definition remains in force."
        ),
    ),
    Doc(
        doc_id="ecommerce-inactive-account",
        title="Inactive account (product)",
        domain="ecommerce",
        kind="definition",
        status="current",
        body=(
            "Product uses 'inactive account' for login hygiene, not for churn: a user with no 'login' event "
            "in the 365 days ending 2024-12-31. "
            "Inactive accounts receive re-activation emails. "
            "This is a different population from churned customers, defined in ecommerce-churned-customer."
        ),
    ),
)

_ECOMMERCE_METRICS: tuple[Metric, ...] = (
    Metric(
        metric_id="ecommerce-active-customers",
        domain="ecommerce",
        doc_ids=("ecommerce-active-customer",),
        distractor_ids=("ecommerce-active-customer-2023", "ecommerce-active-user-marketing"),
        question=(
            "How many active customers did the shop have in {month_name}, under the company's current "
            "definition? Answer with a whole number. " + _CITE
        ),
        gold_sql=(
            "SELECT COUNT(DISTINCT o.user_id) FROM orders o JOIN users u ON u.id = o.user_id "
            "WHERE o.status = 'completed' AND substr(o.order_date, 1, 7) = '{month}'"
        ),
        naive_sql="SELECT COUNT(DISTINCT user_id) FROM orders WHERE substr(order_date, 1, 7) = '{month}'",
        answer_type="int",
        parameters=_Months("SELECT DISTINCT substr(order_date, 1, 7) FROM orders"),
    ),
    Metric(
        metric_id="ecommerce-active-users",
        domain="ecommerce",
        doc_ids=("ecommerce-active-user-marketing",),
        distractor_ids=("ecommerce-active-customer",),
        question=(
            "How many active users, in the marketing team's sense, did the shop have in {month_name}? "
            "Answer with a whole number. " + _CITE
        ),
        gold_sql=(
            "SELECT COUNT(DISTINCT e.user_id) FROM events e JOIN users u ON u.id = e.user_id "
            "WHERE e.event_type = 'login' AND substr(e.event_time, 1, 7) = '{month}'"
        ),
        naive_sql="SELECT COUNT(DISTINCT user_id) FROM events WHERE substr(event_time, 1, 7) = '{month}'",
        answer_type="int",
        parameters=_Months("SELECT DISTINCT substr(event_time, 1, 7) FROM events"),
    ),
    Metric(
        metric_id="ecommerce-net-revenue",
        domain="ecommerce",
        doc_ids=("ecommerce-net-revenue", "ecommerce-revenue-policy"),
        distractor_ids=("ecommerce-gross-revenue-2022", "ecommerce-net-revenue-fee-draft"),
        question=(
            "What was the shop's net revenue in {month_name}? Answer with a number in USD. " + _CITE
        ),
        gold_sql=(
            "SELECT ROUND(COALESCE(SUM(oi.quantity * oi.unit_price), 0), 2) FROM orders o "
            "JOIN order_items oi ON oi.order_id = o.id "
            "WHERE o.status = 'completed' AND substr(o.order_date, 1, 7) = '{month}'"
        ),
        naive_sql=(
            "SELECT ROUND(COALESCE(SUM(total_amount), 0), 2) FROM orders WHERE substr(order_date, 1, 7) = '{month}'"
        ),
        answer_type="float",
        tolerance=1e-4,
        parameters=_Months("SELECT DISTINCT substr(order_date, 1, 7) FROM orders"),
    ),
    Metric(
        metric_id="ecommerce-average-order-value",
        domain="ecommerce",
        doc_ids=("ecommerce-average-order-value", "ecommerce-revenue-policy"),
        distractor_ids=("ecommerce-average-basket-size", "ecommerce-gross-revenue-2022"),
        question=(
            "What was the average order value in 2024 for customers on the {plan} plan? "
            "Answer with a number in USD. " + _CITE
        ),
        gold_sql=(
            "SELECT ROUND(SUM(oi.quantity * oi.unit_price) * 1.0 / COUNT(DISTINCT o.id), 2) FROM orders o "
            "JOIN users u ON u.id = o.user_id JOIN order_items oi ON oi.order_id = o.id "
            "WHERE o.status = 'completed' AND o.order_date >= '2024-01-01' AND o.order_date < '2025-01-01' "
            "AND u.plan = {plan_sql}"
        ),
        naive_sql=(
            "SELECT ROUND(AVG(o.total_amount), 2) FROM orders o JOIN users u ON u.id = o.user_id "
            "WHERE o.order_date >= '2024-01-01' AND o.order_date < '2025-01-01' AND u.plan = {plan_sql}"
        ),
        answer_type="float",
        tolerance=1e-4,
        parameters=_Values(
            "plan",
            "SELECT u.plan FROM users u JOIN orders o ON o.user_id = u.id "
            "WHERE o.status = 'completed' AND o.order_date >= '2024-01-01' "
            "AND EXISTS (SELECT 1 FROM order_items oi WHERE oi.order_id = o.id) "
            "GROUP BY u.plan HAVING COUNT(DISTINCT o.id) >= 5",
        ),
    ),
    Metric(
        metric_id="ecommerce-churned-customers",
        domain="ecommerce",
        doc_ids=("ecommerce-churned-customer",),
        distractor_ids=("ecommerce-churned-customer-draft", "ecommerce-inactive-account"),
        question=(
            "How many churned customers on the {plan} plan did the shop have as of 2024-12-31? "
            "Answer with a whole number. " + _CITE
        ),
        gold_sql=(
            "SELECT COUNT(*) FROM users u WHERE u.plan = {plan_sql} "
            "AND EXISTS (SELECT 1 FROM orders o WHERE o.user_id = u.id AND o.status = 'completed') "
            "AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.user_id = u.id AND o.status = 'completed' "
            "AND o.order_date >= '2024-07-05')"
        ),
        naive_sql=(
            "SELECT COUNT(*) FROM users u WHERE u.plan = {plan_sql} "
            "AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.user_id = u.id AND o.order_date >= '2024-10-03')"
        ),
        answer_type="int",
        parameters=_Values("plan", "SELECT plan FROM users GROUP BY plan HAVING COUNT(*) >= 5"),
    ),
)

# --------------------------------------------------------------------------------------------
# hr
# --------------------------------------------------------------------------------------------

_HR_DOCS: tuple[Doc, ...] = (
    Doc(
        doc_id="hr-headcount",
        title="Headcount (current definition)",
        domain="hr",
        kind="definition",
        status="current",
        body=(
            "Headcount of a department is the number of employees whose department_id is that department, who "
            "are on payroll (employees.salary is recorded, not NULL) and who have completed the 90-day "
            "probation period by the reporting date 2024-12-31, that is with hire_date on or before 2024-10-02. "
            "Employees without a department are reported as unassigned and belong to no department's headcount. "
            "Directors count in their own department."
        ),
    ),
    Doc(
        doc_id="hr-headcount-2023",
        title="Headcount (2023 definition)",
        domain="hr",
        kind="definition",
        status="superseded",
        superseded_by="hr-headcount",
        body=(
            "Superseded on 2024-03-01 by hr-headcount; do not use. "
            "The 2023 headcount counted every row of employees carrying the department's department_id, "
            "including new hires still on probation and people not yet set up in payroll."
        ),
    ),
    Doc(
        doc_id="hr-staffed-headcount",
        title="Staffed headcount (project management office)",
        domain="hr",
        kind="definition",
        status="current",
        body=(
            "Staffed headcount is a project-management measure, not the HR headcount of hr-headcount. "
            "For a department it is the number of distinct existing employees with at least one assignment "
            "(assignments table) on one of that department's ongoing projects, the projects whose "
            "projects.department_id is the department and whose end_date is NULL, whatever department the "
            "employee belongs to. "
            "Assignments of employee ids missing from employees are ignored, and a person on several such "
            "projects counts once."
        ),
    ),
    Doc(
        doc_id="hr-average-salary",
        title="Average salary",
        domain="hr",
        kind="definition",
        status="current",
        body=(
            "Average salary of a department is the mean of employees.salary over the employees whose "
            "department_id is that department, leaving out employees whose salary is NULL and the staff that "
            "hr-compensation-policy excludes from salary statistics. "
            "It is reported in USD, rounded to 2 decimal places."
        ),
    ),
    Doc(
        doc_id="hr-compensation-policy",
        title="Compensation reporting policy",
        domain="hr",
        kind="policy",
        status="current",
        body=(
            "Executive pay is reported separately, so employees with the title 'Director' are left out of every "
            "salary statistic (averages, medians and bands). "
            "Salary statistics also leave out employees still on their 90-day probation at the reporting date "
            "2024-12-31 (hire_date after 2024-10-02), whose offers are provisional. "
            "A missing salary (NULL) means payroll setup is pending; it is excluded, never treated as zero. "
            "Salaries are annual base pay in USD."
        ),
    ),
    Doc(
        doc_id="hr-average-salary-draft",
        title="Median salary including executives (proposal)",
        domain="hr",
        kind="definition",
        status="draft",
        superseded_by="hr-average-salary",
        body=(
            "Draft, not adopted; see hr-average-salary. "
            "People Analytics proposed reporting the median salary including Directors, to line up with an "
            "external compensation survey. "
            "The proposal is on hold; the current average excludes Directors and probationary staff."
        ),
    ),
    Doc(
        doc_id="hr-internal-project-hours",
        title="Internal project hours",
        domain="hr",
        kind="definition",
        status="current",
        body=(
            "Internal project hours of a department are the total assignments.hours logged on the projects it "
            "owns (projects.department_id), excluding assignments with role 'consultant', which are external "
            "contractors billed through procurement. "
            "Assignments whose employee_id no longer exists in employees are excluded as well. "
            "Report the total rounded to 1 decimal place."
        ),
    ),
    Doc(
        doc_id="hr-project-hours-2022",
        title="Project hours (2022 definition)",
        domain="hr",
        kind="definition",
        status="superseded",
        superseded_by="hr-internal-project-hours",
        body=(
            "Superseded on 2024-03-01 by hr-internal-project-hours; do not use. "
            "The 2022 version summed the hours of every assignment on the department's projects, consultants "
            "included, and overstated internal effort."
        ),
    ),
    Doc(
        doc_id="hr-tenure",
        title="Tenure",
        domain="hr",
        kind="definition",
        status="current",
        body=(
            "Tenure is the time from an employee's hire_date to the reporting date 2024-12-31, expressed in "
            "years as the number of days divided by 365.25. "
            "Average tenure is reported rounded to 2 decimal places and, like headcount, covers employees "
            "on payroll only."
        ),
    ),
)

_HR_DEPARTMENTS = (
    "SELECT d.name FROM departments d JOIN employees e ON e.department_id = d.id "
    "WHERE e.salary IS NOT NULL AND e.title <> 'Director' AND e.hire_date <= '2024-10-02' "
    "GROUP BY d.id HAVING COUNT(*) >= 3"
)

_HR_METRICS: tuple[Metric, ...] = (
    Metric(
        metric_id="hr-headcount",
        domain="hr",
        doc_ids=("hr-headcount",),
        distractor_ids=("hr-headcount-2023", "hr-staffed-headcount"),
        question=(
            "What is the headcount of the {department} department at the 2024 year-end reporting date, under "
            "the company's current definition? Answer with a whole number. " + _CITE
        ),
        gold_sql=(
            "SELECT COUNT(*) FROM employees e JOIN departments d ON d.id = e.department_id "
            "WHERE d.name = {department_sql} AND e.salary IS NOT NULL AND e.hire_date <= '2024-10-02'"
        ),
        naive_sql=(
            "SELECT COUNT(*) FROM employees e JOIN departments d ON d.id = e.department_id "
            "WHERE d.name = {department_sql}"
        ),
        answer_type="int",
        parameters=_Values("department", _HR_DEPARTMENTS, limit=12),
    ),
    Metric(
        metric_id="hr-average-salary",
        domain="hr",
        doc_ids=("hr-average-salary", "hr-compensation-policy"),
        distractor_ids=("hr-average-salary-draft",),
        question="What is the average salary in the {department} department? Answer with a number in USD. " + _CITE,
        gold_sql=(
            "SELECT ROUND(AVG(e.salary), 2) FROM employees e JOIN departments d ON d.id = e.department_id "
            "WHERE d.name = {department_sql} AND e.salary IS NOT NULL AND e.title <> 'Director' "
            "AND e.hire_date <= '2024-10-02'"
        ),
        naive_sql=(
            "SELECT ROUND(AVG(e.salary), 2) FROM employees e JOIN departments d ON d.id = e.department_id "
            "WHERE d.name = {department_sql}"
        ),
        answer_type="float",
        tolerance=1e-4,
        parameters=_Values("department", _HR_DEPARTMENTS, limit=12),
    ),
    Metric(
        metric_id="hr-staffed-headcount",
        domain="hr",
        doc_ids=("hr-staffed-headcount",),
        distractor_ids=("hr-headcount",),
        question=(
            "What is the staffed headcount of the {department} department's projects? "
            "Answer with a whole number. " + _CITE
        ),
        gold_sql=(
            "SELECT COUNT(DISTINCT a.employee_id) FROM assignments a JOIN projects p ON p.id = a.project_id "
            "JOIN departments d ON d.id = p.department_id JOIN employees e ON e.id = a.employee_id "
            "WHERE d.name = {department_sql} AND p.end_date IS NULL"
        ),
        naive_sql=(
            "SELECT COUNT(*) FROM assignments a JOIN projects p ON p.id = a.project_id "
            "JOIN departments d ON d.id = p.department_id WHERE d.name = {department_sql}"
        ),
        answer_type="int",
        parameters=_Values(
            "department",
            "SELECT d.name FROM departments d JOIN projects p ON p.department_id = d.id "
            "JOIN assignments a ON a.project_id = p.id WHERE p.end_date IS NULL GROUP BY d.id",
            limit=12,
        ),
    ),
    Metric(
        metric_id="hr-internal-project-hours",
        domain="hr",
        doc_ids=("hr-internal-project-hours",),
        distractor_ids=("hr-project-hours-2022",),
        question=(
            "How many internal project hours were logged on the {department} department's projects? "
            "Answer with a number. " + _CITE
        ),
        gold_sql=(
            "SELECT ROUND(COALESCE(SUM(a.hours), 0), 1) FROM assignments a JOIN projects p ON p.id = a.project_id "
            "JOIN departments d ON d.id = p.department_id "
            "WHERE d.name = {department_sql} AND a.role <> 'consultant' "
            "AND a.employee_id IN (SELECT id FROM employees)"
        ),
        naive_sql=(
            "SELECT ROUND(COALESCE(SUM(a.hours), 0), 1) FROM assignments a JOIN projects p ON p.id = a.project_id "
            "JOIN departments d ON d.id = p.department_id WHERE d.name = {department_sql}"
        ),
        answer_type="float",
        tolerance=1e-4,
        parameters=_Values(
            "department",
            "SELECT d.name FROM departments d JOIN projects p ON p.department_id = d.id "
            "JOIN assignments a ON a.project_id = p.id GROUP BY d.id HAVING COUNT(*) >= 5",
            limit=12,
        ),
    ),
)

# --------------------------------------------------------------------------------------------
# finance
# --------------------------------------------------------------------------------------------

_FINANCE_DOCS: tuple[Doc, ...] = (
    Doc(
        doc_id="finance-net-spend",
        title="Net spend (current definition)",
        domain="finance",
        kind="definition",
        status="current",
        body=(
            "Net spend for a period is the customer spending we report to the board: the sum of the amounts of "
            "transactions of kind 'purchase' and 'fee', minus the amounts of kind 'refund', for transactions "
            "dated (tx_date) in the period. "
            "Deposits, withdrawals and transfers move the customer's own money and are not spend. "
            "Transactions on account ids that no longer exist in accounts are excluded. "
            "Amounts are stored as positive numbers; report the result in USD rounded to 2 decimal places."
        ),
    ),
    Doc(
        doc_id="finance-net-spend-2023",
        title="Net spend (2023 definition)",
        domain="finance",
        kind="definition",
        status="superseded",
        superseded_by="finance-net-spend",
        body=(
            "Superseded on 2024-03-01 by finance-net-spend; do not use. "
            "The 2023 net spend added purchases and withdrawals and ignored refunds and fees."
        ),
    ),
    Doc(
        doc_id="finance-purchase-volume",
        title="Purchase volume (marketing)",
        domain="finance",
        kind="definition",
        status="current",
        body=(
            "Purchase volume is the marketing team's merchant-sales figure: the plain sum of the amounts of "
            "'purchase' transactions in the period, with no refunds or fees. "
            "It is not net spend (finance-net-spend) and must not be used in financial reporting."
        ),
    ),
    Doc(
        doc_id="finance-receivables-policy",
        title="Receivables and invoice status policy",
        domain="finance",
        kind="policy",
        status="current",
        body=(
            "The billing system maintains invoices.status. "
            "An invoice with status 'overdue' or 'partially_paid' is an open receivable; 'paid' invoices are "
            "settled and 'void' invoices were cancelled and carry no receivable. "
            "Payments are matched to invoices through payments.invoice_id; payments that reference a deleted "
            "invoice are unapplied cash and are ignored."
        ),
    ),
    Doc(
        doc_id="finance-overdue-invoice",
        title="Overdue invoice (current definition)",
        domain="finance",
        kind="definition",
        status="current",
        body=(
            "An invoice is overdue as of 2024-12-31 when its due date (invoices.due_at) is before 2024-12-31, "
            "its status is 'overdue' or 'partially_paid' (paid and void invoices are never overdue), and the "
            "payments recorded against it (the sum of payments.amount for its id) are less than invoices.amount. "
            "A partially paid invoice past its due date is therefore overdue. "
            "The region of an invoice is the region of its customer (customers.region)."
        ),
    ),
    Doc(
        doc_id="finance-delinquent-customer",
        title="Delinquent customer (current definition)",
        domain="finance",
        kind="definition",
        status="current",
        body=(
            "A delinquent customer is an existing customer with at least one open receivable, as defined in "
            "finance-receivables-policy, that is more than 30 days past due at 2024-12-31, meaning its due_at "
            "is before 2024-12-01. "
            "Count customers, not invoices: a customer with several such invoices counts once. "
            "Segment breakdowns use customers.segment."
        ),
    ),
    Doc(
        doc_id="finance-delinquent-customer-2023",
        title="Delinquency report (2023 definition)",
        domain="finance",
        kind="definition",
        status="superseded",
        superseded_by="finance-delinquent-customer",
        body=(
            "Superseded on 2024-03-01 by finance-delinquent-customer; do not use. "
            "The 2023 collections report counted open invoices (status 'overdue' or 'partially_paid'), one per "
            "invoice rather than one per customer, with no days-past-due threshold."
        ),
    ),
    Doc(
        doc_id="finance-active-account",
        title="Active account (current definition)",
        domain="finance",
        kind="definition",
        status="current",
        body=(
            "An account is active if it has at least one customer-initiated transaction, of any kind except "
            "'fee' (fees are posted by the bank itself), dated in the 90 days ending 2024-12-31, that is with "
            "tx_date on or after 2024-10-03. "
            "Each account counts once; breakdowns by product use accounts.account_type."
        ),
    ),
    Doc(
        doc_id="finance-active-account-draft",
        title="Every open account is active (proposal)",
        domain="finance",
        kind="definition",
        status="draft",
        superseded_by="finance-active-account",
        body=(
            "Draft, not adopted; see finance-active-account. "
            "Retail banking proposed counting every open account in the accounts table as active, whether or not "
            "it had any transactions. The risk committee rejected the proposal."
        ),
    ),
    Doc(
        doc_id="finance-dormant-account",
        title="Dormant account (compliance)",
        domain="finance",
        kind="definition",
        status="current",
        body=(
            "A dormant account, for compliance purposes, is an account with no customer-initiated transaction in "
            "the 365 days ending 2024-12-31. "
            "Dormancy triggers the unclaimed-property process. "
            "It is not the complement of an active account (finance-active-account), which uses a 90-day window."
        ),
    ),
)

_FINANCE_METRICS: tuple[Metric, ...] = (
    Metric(
        metric_id="finance-net-spend",
        domain="finance",
        doc_ids=("finance-net-spend",),
        distractor_ids=("finance-net-spend-2023", "finance-purchase-volume"),
        question="What was the customers' net spend in {month_name}? Answer with a number in USD. " + _CITE,
        gold_sql=(
            "SELECT ROUND(COALESCE(SUM(CASE WHEN t.kind = 'refund' THEN -t.amount ELSE t.amount END), 0), 2) "
            "FROM transactions t JOIN accounts a ON a.id = t.account_id "
            "WHERE t.kind IN ('purchase', 'fee', 'refund') AND substr(t.tx_date, 1, 7) = '{month}'"
        ),
        naive_sql=(
            "SELECT ROUND(COALESCE(SUM(amount), 0), 2) FROM transactions "
            "WHERE kind = 'purchase' AND substr(tx_date, 1, 7) = '{month}'"
        ),
        answer_type="float",
        tolerance=1e-4,
        parameters=_Months("SELECT DISTINCT substr(tx_date, 1, 7) FROM transactions"),
    ),
    Metric(
        metric_id="finance-overdue-invoices",
        domain="finance",
        doc_ids=("finance-overdue-invoice",),
        distractor_ids=("finance-delinquent-customer",),
        question=(
            "How many invoices of customers in the {region} region were overdue as of 2024-12-31? "
            "Answer with a whole number. " + _CITE
        ),
        gold_sql=(
            "SELECT COUNT(*) FROM invoices i JOIN customers c ON c.id = i.customer_id "
            "WHERE c.region = {region_sql} AND i.status IN ('overdue', 'partially_paid') "
            "AND i.due_at < '2024-12-31' "
            "AND i.amount > COALESCE((SELECT SUM(p.amount) FROM payments p WHERE p.invoice_id = i.id), 0)"
        ),
        naive_sql=(
            "SELECT COUNT(*) FROM invoices i JOIN customers c ON c.id = i.customer_id "
            "WHERE c.region = {region_sql} AND i.status = 'overdue'"
        ),
        answer_type="int",
        parameters=_Values("region", "SELECT DISTINCT region FROM customers"),
    ),
    Metric(
        metric_id="finance-delinquent-customers",
        domain="finance",
        doc_ids=("finance-delinquent-customer", "finance-receivables-policy"),
        distractor_ids=("finance-delinquent-customer-2023", "finance-overdue-invoice"),
        question=(
            "How many delinquent customers are there in the {segment} segment as of 2024-12-31? "
            "Answer with a whole number. " + _CITE
        ),
        gold_sql=(
            "SELECT COUNT(DISTINCT c.id) FROM customers c JOIN invoices i ON i.customer_id = c.id "
            "WHERE c.segment = {segment_sql} AND i.status IN ('overdue', 'partially_paid') "
            "AND i.due_at < '2024-12-01'"
        ),
        naive_sql=(
            "SELECT COUNT(*) FROM invoices i JOIN customers c ON c.id = i.customer_id "
            "WHERE c.segment = {segment_sql} AND i.status IN ('overdue', 'partially_paid')"
        ),
        answer_type="int",
        parameters=_Values("segment", "SELECT DISTINCT segment FROM customers"),
    ),
    Metric(
        metric_id="finance-active-accounts",
        domain="finance",
        doc_ids=("finance-active-account",),
        distractor_ids=("finance-active-account-draft", "finance-dormant-account"),
        question=(
            "How many {account_type} accounts were active as of 2024-12-31? Answer with a whole number. " + _CITE
        ),
        gold_sql=(
            "SELECT COUNT(DISTINCT a.id) FROM accounts a JOIN transactions t ON t.account_id = a.id "
            "WHERE a.account_type = {account_type_sql} AND t.kind <> 'fee' AND t.tx_date >= '2024-10-03'"
        ),
        naive_sql="SELECT COUNT(*) FROM accounts WHERE account_type = {account_type_sql}",
        answer_type="int",
        parameters=_Values("account_type", "SELECT DISTINCT account_type FROM accounts"),
    ),
)

# --------------------------------------------------------------------------------------------
# logistics
# --------------------------------------------------------------------------------------------

_LOGISTICS_DOCS: tuple[Doc, ...] = (
    Doc(
        doc_id="logistics-on-time-delivery-rate",
        title="On-time delivery rate (current definition)",
        domain="logistics",
        kind="definition",
        status="current",
        body=(
            "The on-time delivery rate for a month is the percentage, rounded to 2 decimal places, of the "
            "resolved shipments picked up in that month (by pickup_at) that were delivered on time. "
            "Resolved shipments are those with status 'delivered' or 'lost'; cancelled shipments are not "
            "measured, and pending or in-transit shipments are not yet resolved. "
            "A shipment is on time when its status is 'delivered' and its dropoff_at is no more than 48 hours "
            "after its pickup_at, the promise set in logistics-delivery-sla-policy."
        ),
    ),
    Doc(
        doc_id="logistics-delivery-sla-policy",
        title="Delivery SLA policy",
        domain="logistics",
        kind="policy",
        status="current",
        body=(
            "Since 2024-03-01 the standard delivery promise is 48 hours from pickup to drop-off, measured on the "
            "shipments.pickup_at and shipments.dropoff_at timestamps. "
            "Lost shipments count against the promise; cancelled shipments are not measured. "
            "A shipment still pending or in transit more than 72 hours after pickup is in breach."
        ),
    ),
    Doc(
        doc_id="logistics-on-time-delivery-2023",
        title="On-time delivery (2023 definition)",
        domain="logistics",
        kind="definition",
        status="superseded",
        superseded_by="logistics-on-time-delivery-rate",
        body=(
            "Superseded on 2024-03-01 by logistics-on-time-delivery-rate; do not use. "
            "The 2023 on-time rate was the number of delivered shipments divided by all shipments picked up in "
            "the month, whatever their status and without any time limit."
        ),
    ),
    Doc(
        doc_id="logistics-on-time-pickup-rate",
        title="On-time pickup rate (warehouse operations)",
        domain="logistics",
        kind="definition",
        status="current",
        body=(
            "The on-time pickup rate measures whether carriers collect parcels from the dock within their "
            "booked slot. "
            "It is tracked in the dock scheduling system, not in the shipments table, and is unrelated to the "
            "on-time delivery rate (logistics-on-time-delivery-rate)."
        ),
    ),
    Doc(
        doc_id="logistics-late-shipment",
        title="Late shipment (current definition)",
        domain="logistics",
        kind="definition",
        status="current",
        body=(
            "As of 2024-12-31, a late shipment is either a delivered shipment whose dropoff_at is more than "
            "48 hours after its pickup_at, or an open shipment (status 'pending' or 'in_transit') picked up "
            "more than 72 hours before 2024-12-31 00:00, that is with pickup_at before 2024-12-28. "
            "Lost and cancelled shipments are handled by the claims team and are not counted as late. "
            "A shipment belongs to the warehouse in shipments.warehouse_id."
        ),
    ),
    Doc(
        doc_id="logistics-late-shipment-2023",
        title="Late shipment (2023 definition)",
        domain="logistics",
        kind="definition",
        status="superseded",
        superseded_by="logistics-late-shipment",
        body=(
            "Superseded on 2024-03-01 by logistics-late-shipment; do not use. "
            "The 2023 rule flagged a delivered shipment as late when its dropoff_at was more than 24 hours after "
            "its pickup_at, and ignored shipments that were never delivered."
        ),
    ),
    Doc(
        doc_id="logistics-cost-per-kg",
        title="Cost per kg (current definition)",
        domain="logistics",
        kind="definition",
        status="current",
        body=(
            "Cost per kg of a warehouse is the total shipping cost of its delivered shipments divided by their "
            "total weight in kg, counting only shipments with status 'delivered' and a recorded (non-NULL) cost, "
            "attributed by shipments.warehouse_id. "
            "It is a ratio of totals, not an average of per-shipment ratios. "
            "Report it in USD per kg, rounded to 4 decimal places."
        ),
    ),
    Doc(
        doc_id="logistics-cost-per-kg-draft",
        title="Average cost per kg per shipment (proposal)",
        domain="logistics",
        kind="definition",
        status="draft",
        superseded_by="logistics-cost-per-kg",
        body=(
            "Draft, not adopted; see logistics-cost-per-kg. "
            "This proposal would average each shipment's cost divided by its weight over all shipments, "
            "delivered or not. Finance objected that light parcels dominate such an average."
        ),
    ),
    Doc(
        doc_id="logistics-active-driver",
        title="Active driver (current definition)",
        domain="logistics",
        kind="definition",
        status="current",
        body=(
            "A driver is active in a calendar month if they made at least one delivery picked up in that month: "
            "a shipment with status 'delivered' and pickup_at in the month, assigned to a driver_id that exists "
            "in drivers. "
            "Each driver counts once per month."
        ),
    ),
    Doc(
        doc_id="logistics-rostered-driver",
        title="Rostered driver (workforce planning)",
        domain="logistics",
        kind="definition",
        status="current",
        body=(
            "A rostered driver is any driver on the roster, a row in the drivers table, whether or not they "
            "drove in a given month. "
            "Workforce planning uses it for payroll and licensing; it is not the active driver count of "
            "logistics-active-driver."
        ),
    ),
)

_LOGISTICS_WAREHOUSES = (
    "SELECT w.name FROM warehouses w JOIN shipments s ON s.warehouse_id = w.id GROUP BY w.id HAVING COUNT(*) >= 20"
)

_LOGISTICS_METRICS: tuple[Metric, ...] = (
    Metric(
        metric_id="logistics-on-time-delivery-rate",
        domain="logistics",
        doc_ids=("logistics-on-time-delivery-rate",),
        distractor_ids=("logistics-on-time-delivery-2023", "logistics-on-time-pickup-rate"),
        question=(
            "What was the on-time delivery rate for shipments picked up in {month_name}? "
            "Answer with a percentage. " + _CITE
        ),
        gold_sql=(
            "SELECT ROUND(100.0 * SUM(CASE WHEN status = 'delivered' "
            "AND (julianday(dropoff_at) - julianday(pickup_at)) * 24 <= 48 THEN 1 ELSE 0 END) / COUNT(*), 2) "
            "FROM shipments WHERE status IN ('delivered', 'lost') AND substr(pickup_at, 1, 7) = '{month}'"
        ),
        naive_sql=(
            "SELECT ROUND(100.0 * SUM(CASE WHEN status = 'delivered' THEN 1 ELSE 0 END) / COUNT(*), 2) "
            "FROM shipments WHERE substr(pickup_at, 1, 7) = '{month}'"
        ),
        answer_type="float",
        tolerance=1e-4,
        parameters=_Months(
            "SELECT substr(pickup_at, 1, 7) FROM shipments WHERE status IN ('delivered', 'lost') "
            "GROUP BY 1 HAVING COUNT(*) >= 5"
        ),
    ),
    Metric(
        metric_id="logistics-late-shipments",
        domain="logistics",
        doc_ids=("logistics-late-shipment",),
        distractor_ids=("logistics-late-shipment-2023",),
        question=(
            "How many late shipments does the {warehouse} warehouse have as of 2024-12-31? "
            "Answer with a whole number. " + _CITE
        ),
        gold_sql=(
            "SELECT COUNT(*) FROM shipments s JOIN warehouses w ON w.id = s.warehouse_id "
            "WHERE w.name = {warehouse_sql} AND ((s.status = 'delivered' "
            "AND (julianday(s.dropoff_at) - julianday(s.pickup_at)) * 24 > 48) "
            "OR (s.status IN ('pending', 'in_transit') AND s.pickup_at < '2024-12-28'))"
        ),
        naive_sql=(
            "SELECT COUNT(*) FROM shipments s JOIN warehouses w ON w.id = s.warehouse_id "
            "WHERE w.name = {warehouse_sql} AND s.status = 'delivered' "
            "AND julianday(s.dropoff_at) - julianday(s.pickup_at) > 1"
        ),
        answer_type="int",
        parameters=_Values("warehouse", _LOGISTICS_WAREHOUSES, limit=12),
    ),
    Metric(
        metric_id="logistics-cost-per-kg",
        domain="logistics",
        doc_ids=("logistics-cost-per-kg",),
        distractor_ids=("logistics-cost-per-kg-draft",),
        question="What is the cost per kg of the {warehouse} warehouse? Answer with a number. " + _CITE,
        gold_sql=(
            "SELECT ROUND(SUM(s.cost) / SUM(s.weight_kg), 4) FROM shipments s "
            "JOIN warehouses w ON w.id = s.warehouse_id "
            "WHERE w.name = {warehouse_sql} AND s.status = 'delivered' AND s.cost IS NOT NULL"
        ),
        naive_sql=(
            "SELECT ROUND(AVG(s.cost / s.weight_kg), 4) FROM shipments s JOIN warehouses w ON w.id = s.warehouse_id "
            "WHERE w.name = {warehouse_sql}"
        ),
        answer_type="float",
        tolerance=1e-4,
        parameters=_Values("warehouse", _LOGISTICS_WAREHOUSES, limit=12),
    ),
    Metric(
        metric_id="logistics-active-drivers",
        domain="logistics",
        doc_ids=("logistics-active-driver",),
        distractor_ids=("logistics-rostered-driver",),
        question="How many active drivers were there in {month_name}? Answer with a whole number. " + _CITE,
        gold_sql=(
            "SELECT COUNT(DISTINCT s.driver_id) FROM shipments s JOIN drivers d ON d.id = s.driver_id "
            "WHERE s.status = 'delivered' AND substr(s.pickup_at, 1, 7) = '{month}'"
        ),
        naive_sql="SELECT COUNT(DISTINCT driver_id) FROM shipments WHERE substr(pickup_at, 1, 7) = '{month}'",
        answer_type="int",
        parameters=_Months("SELECT DISTINCT substr(pickup_at, 1, 7) FROM shipments"),
    ),
)

# --------------------------------------------------------------------------------------------
# education
# --------------------------------------------------------------------------------------------

_EDUCATION_DOCS: tuple[Doc, ...] = (
    Doc(
        doc_id="education-completion-rate",
        title="Course completion rate (current definition)",
        domain="education",
        kind="definition",
        status="current",
        body=(
            "The completion rate of a term is the percentage, rounded to 1 decimal place, of the term's finished "
            "enrollments that ended in a pass. "
            "Finished enrollments are those with status 'completed' or 'withdrawn'; 'in_progress' enrollments are "
            "left out entirely. "
            "A pass is status 'completed' with a passing grade under education-grading-policy; a completed "
            "enrollment with a failing or not yet posted grade is finished but is not a pass."
        ),
    ),
    Doc(
        doc_id="education-grading-policy",
        title="Grading policy",
        domain="education",
        kind="policy",
        status="current",
        body=(
            "Grades are recorded as grade points on a 4.0 scale in enrollments.grade_points. "
            "A passing grade is 1.0 (D) or higher; 0.0 is an F and earns no credit. "
            "grade_points is NULL while a course is in progress, after a withdrawal, and until the instructor "
            "posts the grade; a NULL grade is never treated as zero."
        ),
    ),
    Doc(
        doc_id="education-completion-rate-2023",
        title="Course completion rate (2023 definition)",
        domain="education",
        kind="definition",
        status="superseded",
        superseded_by="education-completion-rate",
        body=(
            "Superseded on 2024-03-01 by education-completion-rate; do not use. "
            "The 2023 completion rate divided the enrollments with status 'completed' by all enrollments of the "
            "term, so F grades counted as completions and in-progress courses as non-completions."
        ),
    ),
    Doc(
        doc_id="education-active-student",
        title="Active student (registrar)",
        domain="education",
        kind="definition",
        status="current",
        body=(
            "A student is active in a term if they have a record in students and at least one enrollment in "
            "that term (enrollments.term) whose status is not 'withdrawn'. "
            "Students whose every enrollment in the term was withdrawn are not active that term. "
            "Each student counts once per term."
        ),
    ),
    Doc(
        doc_id="education-registered-student",
        title="Registered student (admissions)",
        domain="education",
        kind="definition",
        status="current",
        body=(
            "Admissions counts registered students: every student record in the students table, by its "
            "enrolled_at date, regardless of course activity in any term. "
            "It is not the same as an active student, which is defined in education-active-student."
        ),
    ),
    Doc(
        doc_id="education-at-risk-student",
        title="At-risk student (current definition)",
        domain="education",
        kind="definition",
        status="current",
        body=(
            "A student is at risk when their cumulative GPA is below 2.5. "
            "Cumulative GPA is credit-weighted: the sum of grade_points times courses.credits divided by the sum "
            "of credits, over the student's enrollments with status 'completed' and a posted (non-NULL) grade; "
            "withdrawn and in-progress enrollments do not count. "
            "Students with no graded course have no GPA and are not at risk. "
            "Advisors identify students by their email address, and the major is students.major."
        ),
    ),
    Doc(
        doc_id="education-at-risk-student-2023",
        title="Early-alert rule (2023 definition)",
        domain="education",
        kind="definition",
        status="superseded",
        superseded_by="education-at-risk-student",
        body=(
            "Superseded on 2024-03-01 by education-at-risk-student; do not use. "
            "The 2023 early-alert rule flagged as at risk any student with at least one grade below 2.0 in any term."
        ),
    ),
    Doc(
        doc_id="education-at-risk-draft",
        title="Stricter at-risk threshold (proposal)",
        domain="education",
        kind="definition",
        status="draft",
        superseded_by="education-at-risk-student",
        body=(
            "Draft, not adopted; see education-at-risk-student. "
            "The advising office proposed raising the at-risk GPA threshold to 3.0 and counting in-progress "
            "courses at a provisional grade. The academic senate has not voted on it."
        ),
    ),
    Doc(
        doc_id="education-credits-earned",
        title="Credit hours earned",
        domain="education",
        kind="definition",
        status="current",
        body=(
            "Credit hours earned by a department in academic year 2024 are the sum of courses.credits over the "
            "enrollments in that department's courses (courses.department_id) in terms 2024-SP, 2024-SU and "
            "2024-FA that have status 'completed' and a passing grade as defined in education-grading-policy. "
            "Withdrawn, in-progress and failed enrollments earn no credit, and neither do completed enrollments "
            "whose grade is not yet posted."
        ),
    ),
    Doc(
        doc_id="education-credits-attempted",
        title="Credit hours attempted (bursar)",
        domain="education",
        kind="definition",
        status="current",
        body=(
            "Credit hours attempted are the sum of courses.credits over all enrollments of the period, whatever "
            "their status or grade. "
            "The bursar uses them for tuition billing; they are not credits earned (education-credits-earned)."
        ),
    ),
)

_EDUCATION_TERMS = _Terms(
    "SELECT term FROM enrollments WHERE status IN ('completed', 'withdrawn') GROUP BY term HAVING COUNT(*) >= 40"
)

_EDUCATION_METRICS: tuple[Metric, ...] = (
    Metric(
        metric_id="education-completion-rate",
        domain="education",
        doc_ids=("education-completion-rate", "education-grading-policy"),
        distractor_ids=("education-completion-rate-2023",),
        question="What was the course completion rate in the {term_name} term? Answer with a percentage. " + _CITE,
        gold_sql=(
            "SELECT ROUND(100.0 * SUM(CASE WHEN status = 'completed' AND grade_points >= 1.0 THEN 1 ELSE 0 END) "
            "/ SUM(CASE WHEN status IN ('completed', 'withdrawn') THEN 1 ELSE 0 END), 1) "
            "FROM enrollments WHERE term = '{term}'"
        ),
        naive_sql=(
            "SELECT ROUND(100.0 * SUM(CASE WHEN status = 'completed' THEN 1 ELSE 0 END) / COUNT(*), 1) "
            "FROM enrollments WHERE term = '{term}'"
        ),
        answer_type="float",
        tolerance=1e-4,
        parameters=_EDUCATION_TERMS,
    ),
    Metric(
        metric_id="education-active-students",
        domain="education",
        doc_ids=("education-active-student",),
        distractor_ids=("education-registered-student",),
        question="How many active students were there in the {term_name} term? Answer with a whole number. " + _CITE,
        gold_sql=(
            "SELECT COUNT(DISTINCT e.student_id) FROM enrollments e JOIN students s ON s.id = e.student_id "
            "WHERE e.term = '{term}' AND e.status <> 'withdrawn'"
        ),
        naive_sql="SELECT COUNT(DISTINCT student_id) FROM enrollments WHERE term = '{term}'",
        answer_type="int",
        parameters=_EDUCATION_TERMS,
    ),
    Metric(
        metric_id="education-at-risk-students",
        domain="education",
        doc_ids=("education-at-risk-student",),
        distractor_ids=("education-at-risk-student-2023", "education-at-risk-draft"),
        question=(
            "Which students majoring in {major} are at risk? Answer with the list of their email addresses. "
            + _CITE
        ),
        gold_sql=(
            "SELECT s.email FROM students s JOIN enrollments e ON e.student_id = s.id "
            "JOIN courses c ON c.id = e.course_id "
            "WHERE s.major = {major_sql} AND e.status = 'completed' AND e.grade_points IS NOT NULL "
            "GROUP BY s.id, s.email HAVING SUM(e.grade_points * c.credits) * 1.0 / SUM(c.credits) < 2.5"
        ),
        naive_sql=(
            "SELECT DISTINCT s.email FROM students s JOIN enrollments e ON e.student_id = s.id "
            "WHERE s.major = {major_sql} AND e.grade_points < 2.0"
        ),
        answer_type="set",
        parameters=_Values(
            "major",
            "SELECT s.major FROM students s JOIN enrollments e ON e.student_id = s.id "
            "JOIN courses c ON c.id = e.course_id WHERE e.status = 'completed' AND e.grade_points IS NOT NULL "
            "GROUP BY s.major, s.id HAVING SUM(e.grade_points * c.credits) * 1.0 / SUM(c.credits) < 2.5",
            limit=12,
        ),
    ),
    Metric(
        metric_id="education-credits-earned",
        domain="education",
        doc_ids=("education-credits-earned", "education-grading-policy"),
        distractor_ids=("education-credits-attempted",),
        question=(
            "How many credit hours did the {department} department's courses earn students in academic year 2024? "
            "Answer with a whole number. " + _CITE
        ),
        gold_sql=(
            "SELECT COALESCE(SUM(c.credits), 0) FROM enrollments e JOIN courses c ON c.id = e.course_id "
            "JOIN departments d ON d.id = c.department_id "
            "WHERE d.name = {department_sql} AND e.term IN ('2024-SP', '2024-SU', '2024-FA') "
            "AND e.status = 'completed' AND e.grade_points >= 1.0"
        ),
        naive_sql=(
            "SELECT COALESCE(SUM(c.credits), 0) FROM enrollments e JOIN courses c ON c.id = e.course_id "
            "JOIN departments d ON d.id = c.department_id "
            "WHERE d.name = {department_sql} AND e.term IN ('2024-SP', '2024-SU', '2024-FA')"
        ),
        answer_type="int",
        parameters=_Values(
            "department",
            "SELECT d.name FROM departments d JOIN courses c ON c.department_id = d.id "
            "JOIN enrollments e ON e.course_id = c.id WHERE e.term IN ('2024-SP', '2024-SU', '2024-FA') "
            "GROUP BY d.id HAVING COUNT(*) >= 10",
            limit=12,
        ),
    ),
)

# --------------------------------------------------------------------------------------------
# healthcare
# --------------------------------------------------------------------------------------------

_HEALTHCARE_DOCS: tuple[Doc, ...] = (
    Doc(
        doc_id="healthcare-no-show-rate",
        title="No-show rate (current definition)",
        domain="healthcare",
        kind="definition",
        status="current",
        body=(
            "The no-show rate for a period is the percentage, rounded to 2 decimal places, of kept-or-missed "
            "appointments that were missed: visits with status 'no_show' divided by visits with status "
            "'completed' or 'no_show', by visit_date in the period. "
            "Cancelled visits were cancelled in advance and freed the slot, so they are excluded from both the "
            "numerator and the denominator. "
            "A visit belongs to the specialty of its doctor (doctors.specialty)."
        ),
    ),
    Doc(
        doc_id="healthcare-no-show-rate-2023",
        title="No-show rate (2023 definition)",
        domain="healthcare",
        kind="definition",
        status="superseded",
        superseded_by="healthcare-no-show-rate",
        body=(
            "Superseded on 2024-03-01 by healthcare-no-show-rate; do not use. "
            "The 2023 no-show rate divided no-shows by all scheduled visits, cancellations included."
        ),
    ),
    Doc(
        doc_id="healthcare-cancellation-rate",
        title="Cancellation rate (scheduling)",
        domain="healthcare",
        kind="definition",
        status="current",
        body=(
            "The cancellation rate is the share of visits with status 'cancelled' among all visits of the period. "
            "It measures advance cancellations and is a separate KPI from the no-show rate "
            "(healthcare-no-show-rate)."
        ),
    ),
    Doc(
        doc_id="healthcare-readmission",
        title="Readmission (30-day return visit)",
        domain="healthcare",
        kind="definition",
        status="current",
        body=(
            "In our outpatient network a readmission is a completed visit that takes place 1 to 30 days after "
            "the same patient's previous completed visit, with any doctor: its visit_date is later than, and at "
            "most 30 days after, an earlier completed visit of that patient. "
            "Visits with status 'no_show' or 'cancelled' neither count as readmissions nor open the 30-day window, "
            "and visits of patient ids missing from patients are ignored. "
            "A readmission is attributed to the month of the returning visit."
        ),
    ),
    Doc(
        doc_id="healthcare-readmission-draft",
        title="Readmission within 14 days (proposal)",
        domain="healthcare",
        kind="definition",
        status="draft",
        superseded_by="healthcare-readmission",
        body=(
            "Draft, not adopted; see healthcare-readmission. "
            "The quality team proposed counting only returns within 14 days to the same doctor. "
            "The proposal is still under review, so the 30-day definition applies."
        ),
    ),
    Doc(
        doc_id="healthcare-returning-patient",
        title="Returning patient visit (marketing)",
        domain="healthcare",
        kind="definition",
        status="current",
        body=(
            "A returning patient visit is any visit by a patient who had any earlier visit, however long ago and "
            "whatever its status. "
            "Marketing uses it to track loyalty; it is not the clinical readmission measure (healthcare-readmission)."
        ),
    ),
    Doc(
        doc_id="healthcare-active-patient",
        title="Active patient (current definition)",
        domain="healthcare",
        kind="definition",
        status="current",
        body=(
            "An active patient is a registered patient (a row in patients) with at least one completed visit "
            "dated in the 12 months ending 2024-12-31, that is visit_date from 2024-01-01 to 2024-12-31. "
            "The insurance class is patients.insurance as recorded; patients with no insurance on file (NULL) "
            "belong to no insurance class, not even 'Uninsured'."
        ),
    ),
    Doc(
        doc_id="healthcare-patient-panel-2023",
        title="Patient panel (2023 definition)",
        domain="healthcare",
        kind="definition",
        status="superseded",
        superseded_by="healthcare-active-patient",
        body=(
            "Superseded on 2024-03-01 by healthcare-active-patient; do not use. "
            "The 2023 panel counted every patient record as an active patient, whether or not they had visited."
        ),
    ),
    Doc(
        doc_id="healthcare-days-of-therapy",
        title="Days of therapy",
        domain="healthcare",
        kind="definition",
        status="current",
        body=(
            "Days of therapy for a drug is the total number of medication days authorised: for each prescription, "
            "days times (1 + refills), because every refill authorises another full supply, summed over the "
            "prescriptions of that drug. "
            "Only prescriptions that are valid under healthcare-prescription-policy count."
        ),
    ),
    Doc(
        doc_id="healthcare-prescription-policy",
        title="Prescription data policy",
        domain="healthcare",
        kind="policy",
        status="current",
        body=(
            "A prescription is valid only when it is attached to an existing visit: rows whose visit_id is not in "
            "visits were written against a deleted visit and are excluded from all reporting. "
            "Refills are separate fills of the same supply. "
            "Dosages are in milligrams per dose."
        ),
    ),
    Doc(
        doc_id="healthcare-days-supply-2023",
        title="Days supply (2023 definition)",
        domain="healthcare",
        kind="definition",
        status="superseded",
        superseded_by="healthcare-days-of-therapy",
        body=(
            "Superseded on 2024-03-01 by healthcare-days-of-therapy; do not use. "
            "The 2023 pharmacy report summed prescriptions.days only, ignoring refills."
        ),
    ),
)

_HEALTHCARE_METRICS: tuple[Metric, ...] = (
    Metric(
        metric_id="healthcare-no-show-rate",
        domain="healthcare",
        doc_ids=("healthcare-no-show-rate",),
        distractor_ids=("healthcare-no-show-rate-2023", "healthcare-cancellation-rate"),
        question="What was the no-show rate of {specialty} visits in 2024? Answer with a percentage. " + _CITE,
        gold_sql=(
            "SELECT ROUND(100.0 * SUM(CASE WHEN v.status = 'no_show' THEN 1 ELSE 0 END) "
            "/ SUM(CASE WHEN v.status IN ('completed', 'no_show') THEN 1 ELSE 0 END), 2) "
            "FROM visits v JOIN doctors d ON d.id = v.doctor_id "
            "WHERE d.specialty = {specialty_sql} AND v.visit_date >= '2024-01-01' AND v.visit_date <= '2024-12-31'"
        ),
        naive_sql=(
            "SELECT ROUND(100.0 * SUM(CASE WHEN v.status = 'no_show' THEN 1 ELSE 0 END) / COUNT(*), 2) "
            "FROM visits v JOIN doctors d ON d.id = v.doctor_id "
            "WHERE d.specialty = {specialty_sql} AND v.visit_date >= '2024-01-01' AND v.visit_date <= '2024-12-31'"
        ),
        answer_type="float",
        tolerance=1e-4,
        parameters=_Values(
            "specialty",
            "SELECT d.specialty FROM doctors d JOIN visits v ON v.doctor_id = d.id "
            "WHERE v.visit_date >= '2024-01-01' AND v.status IN ('completed', 'no_show') "
            "GROUP BY d.specialty HAVING COUNT(*) >= 10",
        ),
    ),
    Metric(
        metric_id="healthcare-readmissions",
        domain="healthcare",
        doc_ids=("healthcare-readmission",),
        distractor_ids=("healthcare-readmission-draft", "healthcare-returning-patient"),
        question="How many readmissions were there in {month_name}? Answer with a whole number. " + _CITE,
        gold_sql=(
            "SELECT COUNT(*) FROM visits v JOIN patients pt ON pt.id = v.patient_id "
            "WHERE v.status = 'completed' AND substr(v.visit_date, 1, 7) = '{month}' "
            "AND EXISTS (SELECT 1 FROM visits p WHERE p.patient_id = v.patient_id AND p.status = 'completed' "
            "AND p.visit_date < v.visit_date AND p.visit_date >= date(v.visit_date, '-30 days'))"
        ),
        naive_sql=(
            "SELECT COUNT(*) FROM visits v WHERE substr(v.visit_date, 1, 7) = '{month}' "
            "AND EXISTS (SELECT 1 FROM visits p WHERE p.patient_id = v.patient_id AND p.visit_date < v.visit_date)"
        ),
        answer_type="int",
        parameters=_Months("SELECT DISTINCT substr(visit_date, 1, 7) FROM visits"),
    ),
    Metric(
        metric_id="healthcare-active-patients",
        domain="healthcare",
        doc_ids=("healthcare-active-patient",),
        distractor_ids=("healthcare-patient-panel-2023",),
        question=(
            "How many active patients in the {insurance} insurance class did the network have as of 2024-12-31? "
            "Answer with a whole number. " + _CITE
        ),
        gold_sql=(
            "SELECT COUNT(DISTINCT p.id) FROM patients p JOIN visits v ON v.patient_id = p.id "
            "WHERE p.insurance = {insurance_sql} AND v.status = 'completed' "
            "AND v.visit_date >= '2024-01-01' AND v.visit_date <= '2024-12-31'"
        ),
        naive_sql="SELECT COUNT(*) FROM patients WHERE insurance = {insurance_sql}",
        answer_type="int",
        parameters=_Values("insurance", "SELECT DISTINCT insurance FROM patients"),
    ),
    Metric(
        metric_id="healthcare-days-of-therapy",
        domain="healthcare",
        doc_ids=("healthcare-days-of-therapy", "healthcare-prescription-policy"),
        distractor_ids=("healthcare-days-supply-2023",),
        question=(
            "How many days of therapy of {drug} have been prescribed in total? Answer with a whole number. " + _CITE
        ),
        gold_sql=(
            "SELECT COALESCE(SUM(pr.days * (1 + pr.refills)), 0) FROM prescriptions pr "
            "JOIN visits v ON v.id = pr.visit_id WHERE pr.drug = {drug_sql}"
        ),
        naive_sql="SELECT COALESCE(SUM(days), 0) FROM prescriptions WHERE drug = {drug_sql}",
        answer_type="int",
        parameters=_Values("drug", "SELECT drug FROM prescriptions GROUP BY drug HAVING COUNT(*) >= 5", limit=12),
    ),
)

# --------------------------------------------------------------------------------------------
# streaming
# --------------------------------------------------------------------------------------------

_STREAMING_DOCS: tuple[Doc, ...] = (
    Doc(
        doc_id="streaming-active-subscriber",
        title="Active subscriber (current definition)",
        domain="streaming",
        kind="definition",
        status="current",
        body=(
            "An active subscriber in a calendar month is a listener on a paid plan, 'premium', 'family' or "
            "'student' in listeners.plan, with at least one play (plays.played_at) in that month. "
            "Listeners on the 'free' plan are never subscribers. "
            "Each listener counts once per month."
        ),
    ),
    Doc(
        doc_id="streaming-active-subscriber-2023",
        title="Active subscriber (2023 definition)",
        domain="streaming",
        kind="definition",
        status="superseded",
        superseded_by="streaming-active-subscriber",
        body=(
            "Superseded on 2024-03-01 by streaming-active-subscriber; do not use. "
            "The 2023 definition counted only 'premium' listeners as subscribers and left out the family and "
            "student plans."
        ),
    ),
    Doc(
        doc_id="streaming-monthly-active-listener",
        title="Monthly active listener (advertising)",
        domain="streaming",
        kind="definition",
        status="current",
        body=(
            "A monthly active listener (MAL) is any listener, on any plan including free, with at least one play "
            "in the month. "
            "MAL is the audience figure given to advertisers; it is not the subscriber count of "
            "streaming-active-subscriber."
        ),
    ),
    Doc(
        doc_id="streaming-qualified-stream",
        title="Qualified stream (current definition)",
        domain="streaming",
        kind="definition",
        status="current",
        body=(
            "A qualified stream is a play of at least 30 seconds (plays.seconds_played of 30 or more) of a track "
            "that still exists in tracks; shorter plays are previews and earn no royalty. "
            "The genre of a stream is the track's genre (tracks.genre) or, when that is missing, the genre of the "
            "track's artist (artists.genre). "
            "Yearly stream counts use the calendar year of played_at."
        ),
    ),
    Doc(
        doc_id="streaming-stream-count-2022",
        title="Stream count (2022 definition)",
        domain="streaming",
        kind="definition",
        status="superseded",
        superseded_by="streaming-qualified-stream",
        body=(
            "Superseded on 2024-03-01 by streaming-qualified-stream; do not use. "
            "The 2022 royalty report counted every play, previews included, and grouped plays by tracks.genre "
            "only, dropping tracks without a genre."
        ),
    ),
    Doc(
        doc_id="streaming-qualified-stream-draft",
        title="60-second qualified stream (proposal)",
        domain="streaming",
        kind="definition",
        status="draft",
        superseded_by="streaming-qualified-stream",
        body=(
            "Draft, not adopted; see streaming-qualified-stream. "
            "Label relations proposed raising the qualifying threshold from 30 to 60 seconds. "
            "Negotiations with the labels are ongoing and the 30-second rule applies."
        ),
    ),
    Doc(
        doc_id="streaming-engaged-listener",
        title="Engaged listener (current definition)",
        domain="streaming",
        kind="definition",
        status="current",
        body=(
            "An engaged listener is a listener with at least 3 qualified streams in the 90 days ending 2024-12-31, "
            "that is with played_at on or after 2024-10-03. "
            "A qualified stream is a play of 30 seconds or more of a track that still exists in tracks "
            "(see streaming-qualified-stream). "
            "Plan breakdowns use listeners.plan."
        ),
    ),
    Doc(
        doc_id="streaming-engaged-listener-2023",
        title="Engaged listener (2023 definition)",
        domain="streaming",
        kind="definition",
        status="superseded",
        superseded_by="streaming-engaged-listener",
        body=(
            "Superseded on 2024-03-01 by streaming-engaged-listener; do not use. "
            "The 2023 definition called any listener with at least one play in the last 90 days engaged, "
            "previews included."
        ),
    ),
    Doc(
        doc_id="streaming-listening-hours",
        title="Listening hours (current definition)",
        domain="streaming",
        kind="definition",
        status="current",
        body=(
            "Listening hours for a period are the total seconds actually played (plays.seconds_played) over "
            "qualified streams, plays of 30 seconds or more, with played_at in the period, divided by 3600 and "
            "rounded to 2 decimal places. "
            "Track length (tracks.duration_s) is not used, because listeners often stop before the end."
        ),
    ),
    Doc(
        doc_id="streaming-listening-hours-2023",
        title="Listening hours (2023 definition)",
        domain="streaming",
        kind="definition",
        status="superseded",
        superseded_by="streaming-listening-hours",
        body=(
            "Superseded on 2024-03-01 by streaming-listening-hours; do not use. "
            "The 2023 figure added up the full length (tracks.duration_s) of every track played, as if each "
            "play ran to the end."
        ),
    ),
)

_STREAMING_MONTHS = _Months("SELECT DISTINCT substr(played_at, 1, 7) FROM plays")

_STREAMING_METRICS: tuple[Metric, ...] = (
    Metric(
        metric_id="streaming-active-subscribers",
        domain="streaming",
        doc_ids=("streaming-active-subscriber",),
        distractor_ids=("streaming-active-subscriber-2023", "streaming-monthly-active-listener"),
        question=(
            "How many active subscribers did the service have in {month_name}? Answer with a whole number. " + _CITE
        ),
        gold_sql=(
            "SELECT COUNT(DISTINCT p.listener_id) FROM plays p JOIN listeners l ON l.id = p.listener_id "
            "WHERE l.plan IN ('premium', 'family', 'student') AND substr(p.played_at, 1, 7) = '{month}'"
        ),
        naive_sql="SELECT COUNT(DISTINCT listener_id) FROM plays WHERE substr(played_at, 1, 7) = '{month}'",
        answer_type="int",
        parameters=_STREAMING_MONTHS,
    ),
    Metric(
        metric_id="streaming-engaged-listeners",
        domain="streaming",
        doc_ids=("streaming-engaged-listener",),
        distractor_ids=("streaming-engaged-listener-2023", "streaming-monthly-active-listener"),
        question=(
            "How many engaged listeners on the {plan} plan did the service have as of 2024-12-31? "
            "Answer with a whole number. " + _CITE
        ),
        gold_sql=(
            "SELECT COUNT(*) FROM (SELECT p.listener_id FROM plays p JOIN listeners l ON l.id = p.listener_id "
            "JOIN tracks t ON t.id = p.track_id "
            "WHERE l.plan = {plan_sql} AND p.seconds_played >= 30 AND p.played_at >= '2024-10-03' "
            "GROUP BY p.listener_id HAVING COUNT(*) >= 3)"
        ),
        naive_sql=(
            "SELECT COUNT(DISTINCT p.listener_id) FROM plays p JOIN listeners l ON l.id = p.listener_id "
            "WHERE l.plan = {plan_sql} AND p.played_at >= '2024-10-03'"
        ),
        answer_type="int",
        parameters=_Values("plan", "SELECT DISTINCT plan FROM listeners"),
    ),
    Metric(
        metric_id="streaming-qualified-streams",
        domain="streaming",
        doc_ids=("streaming-qualified-stream",),
        distractor_ids=("streaming-stream-count-2022", "streaming-qualified-stream-draft"),
        question="How many qualified {genre} streams were there in 2024? Answer with a whole number. " + _CITE,
        gold_sql=(
            "SELECT COUNT(*) FROM plays p JOIN tracks t ON t.id = p.track_id LEFT JOIN artists a ON a.id = t.artist_id "
            "WHERE COALESCE(t.genre, a.genre) = {genre_sql} AND p.seconds_played >= 30 "
            "AND p.played_at >= '2024-01-01' AND p.played_at < '2025-01-01'"
        ),
        naive_sql=(
            "SELECT COUNT(*) FROM plays p JOIN tracks t ON t.id = p.track_id WHERE t.genre = {genre_sql} "
            "AND p.played_at >= '2024-01-01' AND p.played_at < '2025-01-01'"
        ),
        answer_type="int",
        parameters=_Values("genre", "SELECT DISTINCT genre FROM tracks", limit=10),
    ),
    Metric(
        metric_id="streaming-listening-hours",
        domain="streaming",
        doc_ids=("streaming-listening-hours",),
        distractor_ids=("streaming-listening-hours-2023",),
        question="How many listening hours were streamed in {month_name}? Answer with a number. " + _CITE,
        gold_sql=(
            "SELECT ROUND(COALESCE(SUM(p.seconds_played), 0) / 3600.0, 2) FROM plays p "
            "JOIN tracks t ON t.id = p.track_id "
            "WHERE p.seconds_played >= 30 AND substr(p.played_at, 1, 7) = '{month}'"
        ),
        naive_sql=(
            "SELECT ROUND(COALESCE(SUM(t.duration_s), 0) / 3600.0, 2) FROM plays p JOIN tracks t ON t.id = p.track_id "
            "WHERE substr(p.played_at, 1, 7) = '{month}'"
        ),
        answer_type="float",
        tolerance=1e-4,
        parameters=_STREAMING_MONTHS,
    ),
)

# --------------------------------------------------------------------------------------------
# the public tuples
# --------------------------------------------------------------------------------------------

DOCS: tuple[Doc, ...] = (
    *_GENERAL_DOCS, *_ECOMMERCE_DOCS, *_HR_DOCS, *_FINANCE_DOCS, *_LOGISTICS_DOCS, *_EDUCATION_DOCS,
    *_HEALTHCARE_DOCS, *_STREAMING_DOCS,
)
"""Every business document of the generated domains, plus the ``general`` ones."""

METRICS: tuple[Metric, ...] = (
    *_ECOMMERCE_METRICS, *_HR_METRICS, *_FINANCE_METRICS, *_LOGISTICS_METRICS, *_EDUCATION_METRICS,
    *_HEALTHCARE_METRICS, *_STREAMING_METRICS,
)
"""Every grounded metric of the generated domains (at least three per domain)."""


def docs_for(domain: str) -> list[Doc]:
    """The documents whose ``domain`` is exactly ``domain`` (``"general"`` gives the company-wide ones).

    The general documents are not repeated for each domain; a search corpus for a domain is its own
    documents plus ``docs_for("general")``. An unknown domain has no documents.
    """
    return [doc for doc in DOCS if doc.domain == domain]


def metrics_for(domain: str) -> list[Metric]:
    """The metrics that apply to databases of ``domain``."""
    return [metric for metric in METRICS if metric.domain == domain]
