"""Outpatient clinic network: patients, doctors, the visits between them, and prescriptions written at visits.

Planted mess: ~7% of patients have no insurance on file and ~2% no recorded sex; visit cost
is NULL for no-shows and cancellations (and ~2% of completed visits, not yet billed); a few
frequent patients and busy doctors account for a large share of visits (weights ~ 1/rank);
many patients and visits have nothing downstream; a few visits name a patient id and a few
prescriptions a visit id that do not exist. ``birth_date`` is the one date column that
reaches back decades rather than two years.
"""
from __future__ import annotations

import random
from datetime import date, timedelta

from ._helpers import (
    CITIES,
    HISTORY_START,
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
CREATE TABLE patients (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    birth_date TEXT NOT NULL,
    sex TEXT,
    city TEXT NOT NULL,
    insurance TEXT
);
CREATE TABLE doctors (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    specialty TEXT NOT NULL,
    hired_at TEXT NOT NULL
);
CREATE TABLE visits (
    id INTEGER PRIMARY KEY,
    patient_id INTEGER REFERENCES patients(id),
    doctor_id INTEGER REFERENCES doctors(id),
    visit_date TEXT NOT NULL,
    reason TEXT NOT NULL,
    cost REAL,
    status TEXT NOT NULL
);
CREATE TABLE prescriptions (
    id INTEGER PRIMARY KEY,
    visit_id INTEGER REFERENCES visits(id),
    drug TEXT NOT NULL,
    dosage_mg REAL NOT NULL,
    days INTEGER NOT NULL,
    refills INTEGER NOT NULL
);
"""

INSURANCE = (("Private", 52), ("Medicare", 22), ("Medicaid", 17), ("Uninsured", 9))
# specialty -> (typical visit cost, common reasons)
SPECIALTIES = {
    "Family Medicine": (140.0, ("annual checkup", "flu symptoms", "sore throat", "fatigue")),
    "Pediatrics": (130.0, ("well-child visit", "ear infection", "vaccination", "fever")),
    "Cardiology": (320.0, ("chest pain", "hypertension follow-up", "palpitations")),
    "Dermatology": (210.0, ("rash", "acne", "mole check")),
    "Orthopedics": (280.0, ("knee pain", "back pain", "sprained ankle", "fracture follow-up")),
    "Neurology": (350.0, ("migraine", "dizziness", "numbness")),
    "Endocrinology": (260.0, ("diabetes follow-up", "thyroid check")),
    "Psychiatry": (230.0, ("anxiety", "depression follow-up", "insomnia")),
}
# drug -> typical doses in mg
DRUGS = {"Amoxicillin": (250, 500, 875), "Lisinopril": (5, 10, 20), "Metformin": (500, 850, 1000),
         "Atorvastatin": (10, 20, 40), "Ibuprofen": (200, 400, 800), "Sertraline": (25, 50, 100),
         "Levothyroxine": (0.05, 0.1, 0.125), "Omeprazole": (20, 40), "Amlodipine": (2.5, 5, 10),
         "Prednisone": (5, 10, 20), "Cetirizine": (5, 10), "Gabapentin": (100, 300, 600)}
VISIT_STATUSES = (("completed", 85), ("no_show", 8), ("cancelled", 7))


def _generate(rng: random.Random) -> dict[str, list[tuple]]:
    patients = []
    for pid in range(1, rng.randint(350, 450) + 1):
        first, last = person_name(rng)
        born = random_day(rng, date(1935, 1, 1), date(2022, 12, 31))
        patients.append((pid, f"{first} {last}", born.isoformat(),
                         maybe_null(rng, rng.choice(("F", "M")), 0.02), rng.choice(CITIES),
                         maybe_null(rng, weighted(rng, INSURANCE), 0.07)))

    doctors, specialties = [], list(SPECIALTIES)
    for did in range(1, rng.randint(30, 45) + 1):
        first, last = person_name(rng)
        doctors.append((did, f"Dr. {first} {last}", rng.choice(specialties),
                        random_date(rng, HISTORY_START, REFERENCE_DATE - timedelta(days=90))))
    hired = {d[0]: date.fromisoformat(d[3]) for d in doctors}

    regular = skewed_picker(rng, range(1, len(patients) + 1), 0.8)
    busy = skewed_picker(rng, range(1, len(doctors) + 1), 0.7)
    visits = []
    for _ in range(rng.randint(1100, 1350)):
        did = busy()
        base_cost, reasons = SPECIALTIES[doctors[did - 1][2]]
        status = weighted(rng, VISIT_STATUSES)
        cost = money(base_cost * rng.lognormvariate(0, 0.3)) if status == "completed" else None
        cost = maybe_null(rng, cost, 0.02)  # completed but not yet billed
        visits.append([orphan_or(rng, regular(), len(patients), 0.01), did,
                       random_date(rng, hired[did], REFERENCE_DATE), rng.choice(reasons), cost, status])
    visits.sort(key=lambda row: row[2])
    visits = [(i, *row) for i, row in enumerate(visits, 1)]

    prescriptions, drugs = [], list(DRUGS)
    for visit in visits:
        if visit[6] != "completed" or rng.random() < 0.45:
            continue
        for _ in range(weighted(rng, ((1, 70), (2, 25), (3, 5)))):
            drug = rng.choice(drugs)
            prescriptions.append((len(prescriptions) + 1, orphan_or(rng, visit[0], len(visits), 0.01), drug,
                                  float(rng.choice(DRUGS[drug])), rng.choice((5, 7, 10, 14, 30, 30, 90)),
                                  weighted(rng, ((0, 55), (1, 20), (2, 12), (3, 8), (5, 5)))))

    return {"patients": patients, "doctors": doctors, "visits": visits, "prescriptions": prescriptions}


DOMAIN = Domain(
    name="healthcare",
    description="A network of outpatient clinics recording patients, their doctors, visits and the prescriptions written at them.",
    schema_sql=SCHEMA,
    generate=_generate,
    nouns={"patients": "patients", "doctors": "doctors", "visits": "visits", "prescriptions": "prescriptions"},
)
