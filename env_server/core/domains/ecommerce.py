"""SaaS e-commerce shop: users on subscription plans, a product catalogue, orders with line items, and a clickstream.

Planted mess: ~6% of users have no country and ~3% of orders no total; purchases and clicks
are skewed toward a few heavy users and best-selling products (weights ~ 1/rank); ~2% of
orders (and ~1% of events) point at user ids that do not exist; ~8% of products are never
ordered; a few orders have no line items; ~4% of events are anonymous (NULL user_id).
"""
from __future__ import annotations

import random

from ._helpers import (
    COUNTRIES,
    HISTORY_START,
    REFERENCE_DATE,
    maybe_null,
    money,
    orphan_or,
    person_name,
    random_day,
    random_timestamp,
    skewed_picker,
    subset_ids,
    unique_email,
    weighted,
)
from .base import Domain

SCHEMA = """
CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    email TEXT NOT NULL,
    name TEXT NOT NULL,
    country TEXT,
    signup_date TEXT NOT NULL,
    plan TEXT NOT NULL
);
CREATE TABLE products (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    category TEXT NOT NULL,
    price REAL NOT NULL
);
CREATE TABLE orders (
    id INTEGER PRIMARY KEY,
    user_id INTEGER REFERENCES users(id),
    order_date TEXT NOT NULL,
    status TEXT NOT NULL,
    total_amount REAL
);
CREATE TABLE order_items (
    id INTEGER PRIMARY KEY,
    order_id INTEGER REFERENCES orders(id),
    product_id INTEGER REFERENCES products(id),
    quantity INTEGER NOT NULL,
    unit_price REAL NOT NULL
);
CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    user_id INTEGER REFERENCES users(id),
    event_type TEXT NOT NULL,
    event_time TEXT NOT NULL
);
"""

# category -> (typical price, product nouns)
CATALOGUE = {
    "Electronics": (180.0, ("Headphones", "Speaker", "Charger", "Monitor", "Keyboard", "Webcam")),
    "Books": (22.0, ("Cookbook", "Novel", "Atlas", "Field Guide", "Anthology", "Workbook")),
    "Home": (45.0, ("Lamp", "Blanket", "Kettle", "Vase", "Cutting Board", "Shelf")),
    "Toys": (30.0, ("Puzzle", "Robot Kit", "Plush Bear", "Board Game", "Kite", "Train Set")),
    "Sports": (60.0, ("Yoga Mat", "Water Bottle", "Dumbbell", "Tennis Racket", "Helmet", "Backpack")),
    "Beauty": (25.0, ("Face Serum", "Lip Balm", "Shampoo", "Hand Cream", "Perfume", "Sunscreen")),
}
ADJECTIVES = ("Classic", "Eco", "Pro", "Mini", "Deluxe", "Smart", "Vintage", "Ultra", "Everyday", "Nordic")
PLANS = (("free", 60), ("basic", 24), ("pro", 13), ("enterprise", 3))
STATUSES = (("completed", 72), ("pending", 9), ("cancelled", 11), ("refunded", 8))
EVENT_TYPES = (("page_view", 52), ("login", 24), ("add_to_cart", 15), ("checkout", 9))


def _generate(rng: random.Random) -> dict[str, list[tuple]]:
    users, seen = [], set()
    signup = {}
    for uid in range(1, rng.randint(280, 340) + 1):
        first, last = person_name(rng)
        signup[uid] = random_day(rng, HISTORY_START, REFERENCE_DATE)
        users.append((uid, unique_email(rng, first, last, seen), f"{first} {last}",
                      maybe_null(rng, rng.choice(COUNTRIES), 0.06), signup[uid].isoformat(),
                      weighted(rng, PLANS)))

    products, price = [], {}
    categories = list(CATALOGUE)
    for pid in range(1, rng.randint(100, 140) + 1):
        category = rng.choice(categories)
        base, nouns = CATALOGUE[category]
        price[pid] = money(base * rng.lognormvariate(0, 0.45))
        products.append((pid, f"{rng.choice(ADJECTIVES)} {rng.choice(nouns)}", category, price[pid]))

    buyer = skewed_picker(rng, range(1, len(users) + 1), 0.8)
    best_seller = skewed_picker(rng, subset_ids(rng, len(products), 0.92), 1.0)
    orders, items = [], []
    for oid in range(1, rng.randint(600, 720) + 1):
        uid = orphan_or(rng, buyer(), len(users), 0.02)
        day = random_day(rng, signup.get(uid, HISTORY_START), REFERENCE_DATE)
        total = 0.0
        n_lines = 0 if rng.random() < 0.03 else weighted(rng, ((1, 45), (2, 30), (3, 15), (4, 10)))
        for _ in range(n_lines):
            pid = best_seller()
            qty = weighted(rng, ((1, 70), (2, 20), (3, 7), (5, 3)))
            unit = price[pid] if rng.random() > 0.12 else money(price[pid] * rng.uniform(0.75, 0.95))
            items.append((len(items) + 1, oid, pid, qty, unit))
            total += qty * unit
        orders.append((oid, uid, day.isoformat(), weighted(rng, STATUSES),
                       maybe_null(rng, money(total), 0.03)))

    visitor = skewed_picker(rng, range(1, len(users) + 1), 0.7)
    events = []
    for eid in range(1, rng.randint(1150, 1400) + 1):
        uid = orphan_or(rng, visitor(), len(users), 0.01)
        when = random_timestamp(rng, signup.get(uid, HISTORY_START), REFERENCE_DATE)
        events.append((eid, maybe_null(rng, uid, 0.04), weighted(rng, EVENT_TYPES), when))
    events.sort(key=lambda row: (row[3], row[0]))
    events = [(i, *row[1:]) for i, row in enumerate(events, 1)]

    return {"users": users, "products": products, "orders": orders, "order_items": items, "events": events}


DOMAIN = Domain(
    name="ecommerce",
    description="An online shop selling consumer goods to users on free and paid subscription plans.",
    schema_sql=SCHEMA,
    generate=_generate,
    nouns={"users": "users", "products": "products", "orders": "orders",
           "order_items": "order lines", "events": "events"},
)
