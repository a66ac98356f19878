"""Shared building blocks for the seeded domain generators.

Every helper takes the caller's ``random.Random`` explicitly; nothing here uses the global
``random`` functions, the clock, ``hash()`` of strings, or set iteration order, so a
generator built from these helpers is a pure function of its seed.

Dates are handled as ``datetime.date`` values and turned into ISO text at the edge:
``random_date`` is inclusive of its end day, while ``random_timestamp`` stops just before
midnight of its end day, so timestamps drawn up to ``REFERENCE_DATE`` never sort after the
bare reference date string (``'2024-12-30 23:59:59' < '2024-12-31'``).
"""
from __future__ import annotations

import random
from bisect import bisect
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from itertools import accumulate
from typing import TypeVar

T = TypeVar("T")

REFERENCE_DATE = date(2024, 12, 31)
"""The frozen "today" of every domain; must match ``Domain.reference_date``'s default."""
HISTORY_START = REFERENCE_DATE - timedelta(days=730)
"""Earliest date of any event-like column (about two years of history)."""

FIRST_NAMES = (
    "Olivia", "Liam", "Emma", "Noah", "Ava", "Mateo", "Sophia", "Lucas", "Mia", "Ethan",
    "Amara", "Kenji", "Priya", "Omar", "Chloe", "Diego", "Hannah", "Arjun", "Leila", "Jonas",
    "Fatima", "Wei", "Grace", "Samuel", "Nadia", "Tomas", "Zoe", "Isaac", "Elena", "Kwame",
    "Ingrid", "Rafael", "Yuki", "Aisha", "Marco", "Sara",
)
LAST_NAMES = (
    "Smith", "Garcia", "Chen", "Müller", "Okafor", "Patel", "Kim", "Rossi", "Novak", "Silva",
    "Johnson", "Nguyen", "Haddad", "Larsen", "Kowalski", "Tanaka", "Brown", "Lopez", "Ivanova",
    "Mensah", "Dubois", "Singh", "Andersson", "O'Brien", "Fischer", "Costa", "Ali", "Walker",
    "Moreau", "Yilmaz", "Schmidt", "Reyes",
)
COUNTRIES = (
    "US", "GB", "DE", "FR", "CA", "IN", "BR", "JP", "ES", "NL", "AU", "MX", "SE", "NG", "IT",
)
CITIES = (
    "Chicago", "Austin", "Seattle", "Denver", "Atlanta", "Boston", "Phoenix", "Portland",
    "Dallas", "Miami", "Detroit", "Nashville", "Columbus", "Sacramento", "Memphis",
    "Baltimore", "Milwaukee", "Tucson", "Raleigh", "Omaha", "Cleveland", "Tampa",
)
EMAIL_DOMAINS = ("example.com", "mail.test", "inbox.test", "post.example", "corp.example")


def random_day(rng: random.Random, start: date = HISTORY_START, end: date = REFERENCE_DATE) -> date:
    """A uniformly random day in ``[start, end]`` (``end`` inclusive; ``start`` if the range is empty)."""
    return start + timedelta(days=int(rng.random() * (max(0, (end - start).days) + 1)))


def random_date(rng: random.Random, start: date = HISTORY_START, end: date = REFERENCE_DATE) -> str:
    """``random_day`` as ISO ``'YYYY-MM-DD'`` text."""
    return random_day(rng, start, end).isoformat()


def random_datetime(rng: random.Random, start: date = HISTORY_START, end: date = REFERENCE_DATE) -> datetime:
    """A random second in ``[start 00:00:00, end 00:00:00)``; ``start`` is moved back to the day
    before ``end`` if needed, so the result is always strictly before ``end``."""
    start = min(start, end - timedelta(days=1))
    seconds = (end - start).days * 86_400
    return datetime(start.year, start.month, start.day) + timedelta(seconds=int(rng.random() * seconds))


def random_timestamp(rng: random.Random, start: date = HISTORY_START, end: date = REFERENCE_DATE) -> str:
    """``random_datetime`` as ``'YYYY-MM-DD HH:MM:SS'`` text."""
    return stamp(random_datetime(rng, start, end))


def stamp(moment: datetime) -> str:
    """Format a datetime as ``'YYYY-MM-DD HH:MM:SS'``."""
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def skewed_picker(rng: random.Random, items: Sequence[T], exponent: float = 1.0) -> Callable[[], T]:
    """Return a zero-argument function drawing from ``items`` with weight ``1 / rank**exponent``.

    The ranking is a seeded shuffle, so which items are the "popular" ones changes with the seed.
    """
    order = list(items)
    rng.shuffle(order)
    cumulative = list(accumulate(1.0 / rank**exponent for rank in range(1, len(order) + 1)))
    total = cumulative[-1]
    return lambda: order[bisect(cumulative, rng.random() * total)]


def weighted(rng: random.Random, choices: Sequence[tuple[T, float]]) -> T:
    """Pick one value from ``(value, weight)`` pairs (one ``rng.random()`` draw)."""
    x = rng.random() * sum(w for _, w in choices)
    for value, w in choices:
        x -= w
        if x < 0:
            return value
    return choices[-1][0]


def maybe_null(rng: random.Random, value: T, p: float) -> T | None:
    """``None`` with probability ``p``, otherwise ``value``."""
    return None if rng.random() < p else value


def orphan_or(rng: random.Random, parent_id: int, n_parents: int, p: float) -> int:
    """With probability ``p`` replace ``parent_id`` by an id past the parent table's last id (1..n)."""
    return n_parents + rng.randint(1, 60) if rng.random() < p else parent_id


def subset_ids(rng: random.Random, n: int, keep: float) -> list[int]:
    """A seeded sorted subset of the ids ``1..n`` holding about ``keep`` of them (at least one)."""
    ids = [i for i in range(1, n + 1) if rng.random() < keep]
    return ids or [rng.randint(1, n)]


def person_name(rng: random.Random) -> tuple[str, str]:
    """A ``(first, last)`` name pair."""
    return rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)


def unique_email(rng: random.Random, first: str, last: str, seen: set[str]) -> str:
    """``first.last@domain`` made unique against ``seen`` (which it updates) with a numeric suffix."""
    local = f"{first}.{last}".lower().replace("'", "").replace("ü", "u")
    host = rng.choice(EMAIL_DOMAINS)
    email, n = f"{local}@{host}", 1
    while email in seen:
        n += 1
        email = f"{local}{n}@{host}"
    seen.add(email)
    return email


def money(value: float) -> float:
    """Round a monetary amount to cents."""
    return round(value, 2)
