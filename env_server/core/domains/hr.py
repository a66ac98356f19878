"""Company HR: departments, an employee reporting hierarchy, internal projects and who works on them.

Planted mess: ~4% of employees have no department, ~5% no salary and ~6% no age; a few
employees report to a manager id that no longer exists and a few assignments point at a
deleted project; ~15% of employees have no assignments at all; project staffing is skewed
toward a few flagship projects (weights ~ 1/rank); ongoing projects have a NULL end_date.
"""
from __future__ import annotations

import random
from datetime import timedelta

from ._helpers import (
    CITIES,
    HISTORY_START,
    REFERENCE_DATE,
    maybe_null,
    money,
    orphan_or,
    person_name,
    random_day,
    skewed_picker,
    subset_ids,
    unique_email,
    weighted,
)
from .base import Domain

SCHEMA = """
CREATE TABLE departments (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    location TEXT NOT NULL,
    budget REAL NOT NULL
);
CREATE TABLE employees (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    email TEXT NOT NULL,
    title TEXT NOT NULL,
    department_id INTEGER REFERENCES departments(id),
    manager_id INTEGER REFERENCES employees(id),
    hire_date TEXT NOT NULL,
    salary REAL,
    age INTEGER
);
CREATE TABLE projects (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    department_id INTEGER REFERENCES departments(id),
    start_date TEXT NOT NULL,
    end_date TEXT,
    budget REAL NOT NULL
);
CREATE TABLE assignments (
    id INTEGER PRIMARY KEY,
    employee_id INTEGER REFERENCES employees(id),
    project_id INTEGER REFERENCES projects(id),
    hours REAL NOT NULL,
    role TEXT NOT NULL
);
"""

DEPARTMENTS = ("Engineering", "Sales", "Marketing", "Finance", "Human Resources", "Legal",
               "Operations", "Customer Support", "Product", "Data", "Design", "Security")
# title -> (weight among non-directors, typical salary)
TITLES = {"Associate": (30, 52_000), "Analyst": (25, 64_000), "Specialist": (20, 71_000),
          "Senior Specialist": (14, 92_000), "Manager": (11, 115_000), "Director": (0, 160_000)}
PROJECT_WORDS = ("Apollo", "Beacon", "Cascade", "Delta", "Ember", "Falcon", "Granite", "Harbor",
                 "Iris", "Juniper", "Keystone", "Lumen", "Mosaic", "Nimbus", "Orion", "Pioneer")
PROJECT_KINDS = ("Migration", "Launch", "Revamp", "Audit", "Pilot", "Rollout", "Integration")
ROLES = (("contributor", 50), ("lead", 10), ("reviewer", 18), ("analyst", 14), ("consultant", 8))


def _generate(rng: random.Random) -> dict[str, list[tuple]]:
    names = rng.sample(DEPARTMENTS, rng.randint(8, 12))
    departments = [(i, name, rng.choice(CITIES), money(rng.randint(40, 400) * 5_000.0))
                   for i, name in enumerate(names, 1)]
    n_depts = len(departments)

    employees, seen, members, hired = [], set(), {d: [] for d in range(1, n_depts + 1)}, {}
    n_employees = rng.randint(250, 320)
    for eid in range(1, n_employees + 1):
        first, last = person_name(rng)
        dept = eid if eid <= n_depts else rng.randint(1, n_depts)
        if eid <= n_depts:  # one director per department, at the top of the tree
            title, manager = "Director", None
        else:
            title = weighted(rng, [(t, w) for t, (w, _) in TITLES.items() if w])
            peers = members[dept]
            manager = orphan_or(rng, rng.choice(peers[: max(2, len(peers) // 5)]), n_employees, 0.015)
        members[dept].append(eid)
        hired[eid] = random_day(rng, hired.get(manager, HISTORY_START), REFERENCE_DATE - timedelta(days=14))
        salary = money(round(TITLES[title][1] * rng.lognormvariate(0, 0.15), -2))
        employees.append((eid, f"{first} {last}", unique_email(rng, first, last, seen), title,
                          maybe_null(rng, dept, 0.04), manager,
                          hired[eid].isoformat(),
                          maybe_null(rng, salary, 0.05), maybe_null(rng, rng.randint(21, 64), 0.06)))

    projects = []
    for pid in range(1, rng.randint(45, 60) + 1):
        start = random_day(rng, HISTORY_START, REFERENCE_DATE - timedelta(days=30))
        end = start + timedelta(days=rng.randint(30, 400))
        projects.append((pid, f"{rng.choice(PROJECT_WORDS)} {rng.choice(PROJECT_KINDS)}",
                         rng.randint(1, n_depts), start.isoformat(),
                         end.isoformat() if end <= REFERENCE_DATE else None,
                         money(rng.randint(10, 600) * 1_000.0)))

    staff = skewed_picker(rng, subset_ids(rng, n_employees, 0.85), 0.4)
    project = skewed_picker(rng, range(1, len(projects) + 1), 1.0)
    assignments = [(aid, staff(), orphan_or(rng, project(), len(projects), 0.01),
                    round(rng.choice((4, 8, 16, 24, 40, 80, 120, 160)) * rng.uniform(0.5, 1.5), 1),
                    weighted(rng, ROLES))
                   for aid in range(1, rng.randint(550, 800) + 1)]

    return {"departments": departments, "employees": employees, "projects": projects,
            "assignments": assignments}


DOMAIN = Domain(
    name="hr",
    description="A mid-sized company's workforce: departments, employees and their managers, and staffing on internal projects.",
    schema_sql=SCHEMA,
    generate=_generate,
    nouns={"departments": "departments", "employees": "employees", "projects": "projects",
           "assignments": "project assignments"},
)
