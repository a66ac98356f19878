"""University registrar: academic departments, instructors, students, the course catalogue, and enrollments.

Planted mess: ~8% of students have no declared major, ~3% of instructors no department and
~5% of courses no instructor yet; grade_points is NULL for withdrawn and in-progress
enrollments (and ~2% of completed ones, grades not yet posted); enrollments are skewed toward
a few popular courses (weights ~ 1/rank); some courses have no enrollments; a few
enrollments name a student id that does not exist (a deleted record).
"""
from __future__ import annotations

import random
from datetime import timedelta

from ._helpers import (
    HISTORY_START,
    REFERENCE_DATE,
    maybe_null,
    orphan_or,
    person_name,
    random_date,
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
    building TEXT NOT NULL
);
CREATE TABLE instructors (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    email TEXT NOT NULL,
    department_id INTEGER REFERENCES departments(id),
    hired_at TEXT NOT NULL
);
CREATE TABLE students (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    email TEXT NOT NULL,
    major TEXT,
    enrolled_at TEXT NOT NULL,
    year INTEGER NOT NULL
);
CREATE TABLE courses (
    id INTEGER PRIMARY KEY,
    code TEXT NOT NULL,
    title TEXT NOT NULL,
    department_id INTEGER REFERENCES departments(id),
    instructor_id INTEGER REFERENCES instructors(id),
    credits INTEGER NOT NULL
);
CREATE TABLE enrollments (
    id INTEGER PRIMARY KEY,
    student_id INTEGER REFERENCES students(id),
    course_id INTEGER REFERENCES courses(id),
    term TEXT NOT NULL,
    grade_points REAL,
    status TEXT NOT NULL
);
"""

# department -> (course code prefix, course title topics)
DEPARTMENTS = {
    "Computer Science": ("CS", ("Programming", "Data Structures", "Algorithms", "Databases", "Machine Learning")),
    "Mathematics": ("MATH", ("Calculus", "Linear Algebra", "Statistics", "Number Theory", "Topology")),
    "Biology": ("BIO", ("Genetics", "Ecology", "Cell Biology", "Microbiology", "Evolution")),
    "History": ("HIST", ("Ancient Rome", "Modern Europe", "World Wars", "Asian History", "Historiography")),
    "Economics": ("ECON", ("Microeconomics", "Macroeconomics", "Econometrics", "Game Theory", "Public Finance")),
    "Physics": ("PHYS", ("Mechanics", "Electromagnetism", "Quantum Physics", "Optics", "Thermodynamics")),
    "Literature": ("LIT", ("Poetry", "The Novel", "Shakespeare", "Modernism", "Creative Writing")),
    "Psychology": ("PSY", ("Cognition", "Social Psychology", "Development", "Neuroscience", "Research Methods")),
    "Chemistry": ("CHEM", ("General Chemistry", "Organic Chemistry", "Biochemistry", "Analytical Methods")),
    "Art": ("ART", ("Drawing", "Art History", "Sculpture", "Photography", "Digital Media")),
}
BUILDINGS = ("North Hall", "Science Center", "Founders Hall", "Library Annex", "West Campus", "Lakeside Building")
LEVELS = (("Introduction to", 100), ("Intermediate", 200), ("Advanced", 300), ("Seminar in", 400))
# term -> first day of classes (students must have enrolled by then)
TERMS = {"2023-SP": "2023-01-17", "2023-FA": "2023-08-28", "2024-SP": "2024-01-16",
         "2024-SU": "2024-06-03", "2024-FA": "2024-08-26"}
GRADES = (4.0, 3.7, 3.3, 3.0, 2.7, 2.3, 2.0, 1.7, 1.0, 0.0)
GRADE_WEIGHTS = (18, 16, 15, 14, 10, 8, 7, 5, 4, 3)


def _generate(rng: random.Random) -> dict[str, list[tuple]]:
    names = rng.sample(list(DEPARTMENTS), rng.randint(8, 10))
    departments = [(i, name, rng.choice(BUILDINGS)) for i, name in enumerate(names, 1)]
    n_depts = len(departments)

    instructors, seen, staff = [], set(), {d: [] for d in range(1, n_depts + 1)}
    for iid in range(1, rng.randint(50, 75) + 1):
        first, last = person_name(rng)
        dept = rng.randint(1, n_depts)
        staff[dept].append(iid)
        instructors.append((iid, f"{first} {last}", unique_email(rng, first, last, seen),
                            maybe_null(rng, dept, 0.03), random_date(rng)))

    students, joined = [], {}
    for sid in range(1, rng.randint(400, 500) + 1):
        first, last = person_name(rng)
        joined[sid] = random_day(rng, HISTORY_START, REFERENCE_DATE - timedelta(days=120))
        year = min(4, 1 + (REFERENCE_DATE - joined[sid]).days // 365 + rng.choice((0, 0, 0, 1, 2)))
        students.append((sid, f"{first} {last}", unique_email(rng, first, last, seen),
                         maybe_null(rng, rng.choice(names), 0.08), joined[sid].isoformat(), year))

    courses, codes, n_courses = [], set(), rng.randint(60, 85)
    while len(courses) < n_courses:
        dept = rng.randint(1, n_depts)
        prefix, topics = DEPARTMENTS[names[dept - 1]]
        level, base = rng.choice(LEVELS)
        code = f"{prefix}{base + rng.randint(1, 99)}"
        if code in codes:
            continue
        codes.add(code)
        teacher = rng.choice(staff[dept]) if staff[dept] else rng.randint(1, len(instructors))
        teacher = orphan_or(rng, teacher, len(instructors), 0.02)
        courses.append((len(courses) + 1, code, f"{level} {rng.choice(topics)}", dept,
                        maybe_null(rng, teacher, 0.05), weighted(rng, ((3, 70), (4, 18), (2, 7), (1, 5)))))

    popular = skewed_picker(rng, subset_ids(rng, len(courses), 0.92), 1.0)
    enrollments, taken = [], set()
    n_students, n_enrollments = len(students), rng.randint(1200, 1450)
    while len(enrollments) < n_enrollments:
        sid, cid = orphan_or(rng, rng.randint(1, n_students), n_students, 0.01), popular()
        eligible = [t for t, start in TERMS.items() if joined.get(sid, HISTORY_START).isoformat() <= start]
        if not eligible or (sid, cid) in taken:
            continue
        taken.add((sid, cid))
        term = rng.choice(eligible)
        status = "in_progress" if term == "2024-FA" and rng.random() < 0.3 else \
            weighted(rng, (("completed", 88), ("withdrawn", 12)))
        grade = rng.choices(GRADES, weights=GRADE_WEIGHTS)[0] if status == "completed" else None
        enrollments.append((len(enrollments) + 1, sid, cid, term, maybe_null(rng, grade, 0.02), status))

    return {"departments": departments, "instructors": instructors, "students": students,
            "courses": courses, "enrollments": enrollments}


DOMAIN = Domain(
    name="education",
    description="A university's departments, instructors, students and courses, and which students enrolled in which courses each term.",
    schema_sql=SCHEMA,
    generate=_generate,
    nouns={"departments": "departments", "instructors": "instructors", "students": "students",
           "courses": "courses", "enrollments": "course enrollments"},
)
