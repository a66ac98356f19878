"""Parcel and freight logistics: warehouses, their vehicle fleets, drivers, and the shipments they carry.

Planted mess: ~6% of drivers have no rating, ~4% of vehicles no home warehouse and ~3% of
shipments no cost; ``dropoff_at`` is NULL for shipments not yet delivered (pending, in
transit, lost, cancelled); volume is skewed toward a few hub warehouses and busy drivers
(weights ~ 1/rank); some drivers and vehicles never carry a shipment; a few shipments name
a driver id that does not exist (a driver who has left).
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
    random_datetime,
    random_day,
    skewed_picker,
    stamp,
    subset_ids,
    weighted,
)
from .base import Domain

SCHEMA = """
CREATE TABLE warehouses (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    city TEXT NOT NULL,
    capacity INTEGER NOT NULL
);
CREATE TABLE drivers (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    hired_at TEXT NOT NULL,
    rating REAL
);
CREATE TABLE vehicles (
    id INTEGER PRIMARY KEY,
    plate TEXT NOT NULL,
    kind TEXT NOT NULL,
    capacity_kg INTEGER NOT NULL,
    warehouse_id INTEGER REFERENCES warehouses(id)
);
CREATE TABLE shipments (
    id INTEGER PRIMARY KEY,
    warehouse_id INTEGER REFERENCES warehouses(id),
    driver_id INTEGER REFERENCES drivers(id),
    vehicle_id INTEGER REFERENCES vehicles(id),
    weight_kg REAL NOT NULL,
    pickup_at TEXT NOT NULL,
    dropoff_at TEXT,
    status TEXT NOT NULL,
    cost REAL
);
"""

# kind -> (weight, capacity_kg)
VEHICLE_KINDS = {"cargo_bike": (10, 150), "van": (50, 1_200), "box_truck": (28, 8_000), "semi": (12, 20_000)}
STATUSES = (("delivered", 80), ("cancelled", 6), ("lost", 2), ("pending", 12))
LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ"


def _generate(rng: random.Random) -> dict[str, list[tuple]]:
    cities = rng.sample(CITIES, rng.randint(8, 14))
    warehouses = [(i, f"{city} {rng.choice(('DC', 'Hub', 'Depot', 'Fulfillment Center'))}", city,
                   rng.randint(20, 200) * 500) for i, city in enumerate(cities, 1)]
    n_wh = len(warehouses)

    drivers, hired = [], {}
    for did in range(1, rng.randint(60, 90) + 1):
        first, last = person_name(rng)
        hired[did] = random_day(rng, HISTORY_START, REFERENCE_DATE - timedelta(days=30))
        drivers.append((did, f"{first} {last}", hired[did].isoformat(),
                        maybe_null(rng, round(min(5.0, rng.gauss(4.3, 0.45)), 1), 0.06)))

    vehicles, fleet = [], {w: [] for w in range(1, n_wh + 1)}
    kinds = [(k, w) for k, (w, _) in VEHICLE_KINDS.items()]
    for vid in range(1, rng.randint(50, 80) + 1):
        kind, home = weighted(rng, kinds), rng.randint(1, n_wh)
        plate = "".join(rng.choice(LETTERS) for _ in range(3)) + f"-{rng.randint(1000, 9999)}"
        fleet[home].append(vid)
        vehicles.append((vid, plate, kind, VEHICLE_KINDS[kind][1], maybe_null(rng, home, 0.04)))

    hub = skewed_picker(rng, range(1, n_wh + 1), 1.0)
    driver = skewed_picker(rng, subset_ids(rng, len(drivers), 0.9), 0.6)
    capacity = {v[0]: v[3] for v in vehicles}
    shipments = []
    for _ in range(rng.randint(1000, 1300)):
        wid = hub()
        vid = rng.choice(fleet[wid] or range(1, len(vehicles) + 1))
        weight = round(min(capacity[vid] * 0.95, capacity[vid] * rng.betavariate(1.2, 4)), 1)
        did = orphan_or(rng, driver(), len(drivers), 0.012)
        pickup = random_datetime(rng, hired.get(did, HISTORY_START), REFERENCE_DATE)
        dropoff = pickup + timedelta(minutes=rng.randint(40, 60 * 72))
        status = weighted(rng, STATUSES)
        if status == "delivered" and dropoff.date() >= REFERENCE_DATE:
            status = "in_transit"
        cost = money(15 + weight * rng.uniform(0.08, 0.2) + (dropoff - pickup).total_seconds() / 3600 * 1.5)
        shipments.append([wid, did, vid, weight, stamp(pickup),
                          stamp(dropoff) if status == "delivered" else None, status, maybe_null(rng, cost, 0.03)])
    shipments.sort(key=lambda row: row[4])
    shipments = [(i, *row) for i, row in enumerate(shipments, 1)]

    return {"warehouses": warehouses, "drivers": drivers, "vehicles": vehicles, "shipments": shipments}


DOMAIN = Domain(
    name="logistics",
    description="A delivery company's warehouses, drivers and vehicle fleet, and the shipments picked up and dropped off between them.",
    schema_sql=SCHEMA,
    generate=_generate,
    nouns={"warehouses": "warehouses", "drivers": "drivers", "vehicles": "vehicles", "shipments": "shipments"},
)
