"""Role-named joins: a table that references one parent through several foreign keys (a flight's origin and
destination airports, a trip's start and end place) joins it once per role, each role with its own name.

"Their airports" has no single meaning when a flight has two; "their origin airports" has one. For every
such foreign key, :func:`role_tables` adds a copy of the parent's profile under the key ``parent|fk`` with a
role noun read off the foreign key's name (``origin`` -> "origin airports", ``start_place_id`` -> "start
places") and an alias of its own, and points the edge at it. The copy keeps the parent's table name, so the
SQL a template writes is unchanged: only the words and the alias differ. A foreign key that is the only one
from its table to that parent keeps the parent as it is.

The copies are reachable only through their edges: :class:`RoleTables` looks them up by key but leaves them
out of iteration, so a single-table template never asks about "origin airports" as if they were a table.
"""
from __future__ import annotations

import dataclasses
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol, TypeVar

from env_server.core.identifiers import SQL_KEYWORDS

__all__ = ["RoleTables", "role_noun", "role_tables"]

_KEY_SUFFIX = re.compile(r"[ _]*(id|key|code|no|fk|ref)$", re.IGNORECASE)


class _Profile(Protocol):
    name: str
    alias: str
    noun: str


class _Edge(Protocol):
    child: str
    fk: str
    parent: str
    pk: str


P = TypeVar("P", bound=_Profile)
E = TypeVar("E", bound=_Edge)


def _words(name: str) -> list[str]:
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name)
    return [w for w in re.split(r"[^A-Za-z0-9]+", spaced.lower()) if w]


def _singular(word: str) -> str:
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    return word[:-1] if word.endswith("s") and not word.endswith("ss") else word


def role_noun(fk: str, parent_noun: str, singular: Callable[[str], str] = _singular) -> str:
    """The parent's noun as the role ``fk`` gives it.

    >>> role_noun("origin", "airports"), role_noun("start_place_id", "places")
    ('origin airports', 'start places')
    >>> role_noun("destAirportId", "airports"), role_noun("manager_id", "employees")
    ('dest airports', 'manager employees')
    """
    words = _words(_KEY_SUFFIX.sub("", fk) or fk)
    noun_words = parent_noun.split()
    if not words:
        return parent_noun
    if singular(noun_words[-1]) == words[-1]:  # "start place" + "places" -> "start places"
        words = words[:-1]
    if not words:
        return parent_noun
    return " ".join(words + noun_words)


class RoleTables(dict):
    """The profiled tables (iterated as usual) plus role copies found by key only (``tables["airports|dest"]``)."""

    def __init__(self, tables: Mapping[str, P], roles: Mapping[str, P]):
        super().__init__(tables)
        self.roles = dict(roles)

    def __missing__(self, key: str):
        return self.roles[key]


def role_tables(tables: Mapping[str, P], edges: Sequence[E],
                singular: Callable[[str], str] = _singular) -> tuple[RoleTables, list[E]]:
    """``tables`` with a role copy of the parent for every edge that shares its (child, parent) pair with
    another of ``edges`` (the joinable ones: a dead second key leaves the first as it is), and ``edges`` with
    those edges pointed at their copies."""
    pairs = Counter((e.child, e.parent) for e in edges if e.child != e.parent)
    roles: dict[str, P] = {}
    taken = {t.alias for t in tables.values()}
    remapped = []
    for edge in edges:
        if pairs[(edge.child, edge.parent)] < 2:
            remapped.append(edge)
            continue
        parent = tables[edge.parent]
        noun = role_noun(edge.fk, parent.noun, singular)
        base = "".join(w[0] for w in noun.split()) or "r"
        alias, n = base, 2
        while alias in taken or alias.upper() in SQL_KEYWORDS:
            alias, n = f"{base}{n}", n + 1
        taken.add(alias)
        key = f"{edge.parent}|{edge.fk}"
        roles[key] = dataclasses.replace(parent, alias=alias, noun=noun)
        remapped.append(dataclasses.replace(edge, parent=key))
    return RoleTables(tables, roles), remapped
