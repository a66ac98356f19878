"""Music streaming service: artists, their tracks, listeners on free and paid plans, and individual plays.

Planted mess: ~5% of artists have no country, ~4% of tracks no genre and ~8% of listeners no
birth year; plays are heavily skewed toward a few hit tracks and power listeners (weights
~ 1/rank), while some tracks are never played; a few tracks credit an artist id and a few
plays a track id that do not exist (takedowns).
"""
from __future__ import annotations

import random
from datetime import timedelta

from ._helpers import (
    COUNTRIES,
    FIRST_NAMES,
    HISTORY_START,
    REFERENCE_DATE,
    maybe_null,
    orphan_or,
    random_datetime,
    random_day,
    skewed_picker,
    stamp,
    subset_ids,
    weighted,
)
from .base import Domain

SCHEMA = """
CREATE TABLE artists (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    country TEXT,
    genre TEXT NOT NULL
);
CREATE TABLE tracks (
    id INTEGER PRIMARY KEY,
    artist_id INTEGER REFERENCES artists(id),
    title TEXT NOT NULL,
    genre TEXT,
    duration_s INTEGER NOT NULL,
    released_on TEXT NOT NULL
);
CREATE TABLE listeners (
    id INTEGER PRIMARY KEY,
    username TEXT NOT NULL,
    country TEXT NOT NULL,
    plan TEXT NOT NULL,
    joined_on TEXT NOT NULL,
    birth_year INTEGER
);
CREATE TABLE plays (
    id INTEGER PRIMARY KEY,
    listener_id INTEGER REFERENCES listeners(id),
    track_id INTEGER REFERENCES tracks(id),
    played_at TEXT NOT NULL,
    seconds_played INTEGER NOT NULL,
    skipped INTEGER NOT NULL
);
"""

GENRES = ("Pop", "Rock", "Hip-Hop", "Electronic", "Jazz", "Classical", "Country", "R&B", "Indie", "Latin")
ADJECTIVES = ("Velvet", "Neon", "Silent", "Golden", "Electric", "Midnight", "Crimson", "Paper",
              "Wild", "Hollow", "Lunar", "Broken", "Solar", "Glass", "Lost", "Blue")
NOUNS = ("Echoes", "Rivers", "Wolves", "Hearts", "Machines", "Skies", "Roads", "Dreams",
         "Lights", "Tides", "Ghosts", "Gardens", "Signals", "Mountains", "Cities", "Waves")
WORDS = ("Love", "Night", "Fire", "Home", "Rain", "Summer", "Heart", "Stay", "Run", "Gold",
         "Forever", "Alone", "Dance", "Ocean", "Tonight", "Stars", "Shadow", "Light", "Time", "Away")
PLANS = (("free", 55), ("premium", 28), ("family", 11), ("student", 6))


def _generate(rng: random.Random) -> dict[str, list[tuple]]:
    artists = []
    for aid in range(1, rng.randint(80, 120) + 1):
        name = f"The {rng.choice(ADJECTIVES)} {rng.choice(NOUNS)}" if rng.random() < 0.6 else \
            f"{rng.choice(FIRST_NAMES)} {rng.choice(ADJECTIVES)}"
        artists.append((aid, name, maybe_null(rng, rng.choice(COUNTRIES), 0.05), rng.choice(GENRES)))

    prolific = skewed_picker(rng, range(1, len(artists) + 1), 0.7)
    tracks, duration, released = [], {}, {}
    for tid in range(1, rng.randint(400, 600) + 1):
        aid = orphan_or(rng, prolific(), len(artists), 0.01)
        genre = artists[aid - 1][3] if aid <= len(artists) and rng.random() < 0.85 else rng.choice(GENRES)
        duration[tid] = max(45, int(rng.gauss(215, 45))) if rng.random() > 0.03 else rng.randint(420, 900)
        released[tid] = random_day(rng, HISTORY_START, REFERENCE_DATE - timedelta(days=7))
        title = " ".join(rng.sample(WORDS, rng.choice((1, 2, 2, 3))))
        tracks.append((tid, aid, title, maybe_null(rng, genre, 0.04), duration[tid], released[tid].isoformat()))

    listeners, joined = [], {}
    for lid in range(1, rng.randint(300, 400) + 1):
        joined[lid] = random_day(rng, HISTORY_START, REFERENCE_DATE - timedelta(days=3))
        username = f"{rng.choice(FIRST_NAMES).lower()}_{rng.choice(NOUNS).lower()}{lid}"
        listeners.append((lid, username, rng.choice(COUNTRIES), weighted(rng, PLANS), joined[lid].isoformat(),
                          maybe_null(rng, rng.randint(1955, 2008), 0.08)))

    fan = skewed_picker(rng, range(1, len(listeners) + 1), 0.9)
    hit = skewed_picker(rng, subset_ids(rng, len(tracks), 0.9), 1.1)
    plays = []
    for _ in range(rng.randint(1250, 1500)):
        lid, tid = fan(), orphan_or(rng, hit(), len(tracks), 0.01)
        start = max(joined[lid], released.get(tid, HISTORY_START))
        heard = duration.get(tid, 200) if rng.random() < 0.6 else rng.randint(3, duration.get(tid, 200))
        plays.append([lid, tid, stamp(random_datetime(rng, start, REFERENCE_DATE)), heard, int(heard < 30)])
    plays.sort(key=lambda row: row[2])
    plays = [(i, *row) for i, row in enumerate(plays, 1)]

    return {"artists": artists, "tracks": tracks, "listeners": listeners, "plays": plays}


DOMAIN = Domain(
    name="streaming",
    description="A music streaming service's artists and tracks, its listeners on free and paid plans, and every play they make.",
    schema_sql=SCHEMA,
    generate=_generate,
    nouns={"artists": "artists", "tracks": "tracks", "listeners": "listeners", "plays": "plays"},
)
