"""The task families and their registry: one module per family, each exporting ``FAMILY``.

>>> from env_server.families import family_of, default_families
>>> default_families().names
('debug', 'repair', 'analyst', 'grounded')
>>> family_of("repair").writes, family_of("grounded").cites
(True, True)

:func:`default_families` imports every module of this package (other than :mod:`.family`) and
collects its ``FAMILY``, ordered by ``rank``: adding a family is adding one module here. A
:class:`FamilyRegistry` is an immutable value; a caller that plays families of its own (a test's toy
family, a research fork) builds one with :meth:`FamilyRegistry.with_family` and hands it to the
:class:`~env_server.grading.grader.Grader` (``Grader(families=...)``), which the environment, the server and
the reward functions take their families from.
"""
from __future__ import annotations

import functools
import importlib
import pkgutil
from collections.abc import Iterable, Iterator, Mapping
from types import MappingProxyType

from env_server.families.family import READ_ACTIONS, Family, ReadmeTable
from env_server.grading.grader import Grader

__all__ = ["READ_ACTIONS", "Family", "FamilyRegistry", "ReadmeTable", "UnknownFamilyError", "default_families", "family_of",
           "make_grader", "shared_grader"]


class UnknownFamilyError(ValueError):
    """A family name the registry in use does not hold."""


class FamilyRegistry(Mapping[str, Family]):
    """Families by name, in ``rank`` order. Immutable."""

    def __init__(self, families: Iterable[Family]):
        ordered = sorted(families, key=lambda f: (f.rank, f.name))
        names = [f.name for f in ordered]
        clash = sorted({n for n in names if names.count(n) > 1})
        if clash:
            raise ValueError(f"two families are named {', '.join(clash)}")
        self._by_name: Mapping[str, Family] = MappingProxyType({f.name: f for f in ordered})

    def __getitem__(self, name: str) -> Family:
        try:
            return self._by_name[name]
        except KeyError:
            raise UnknownFamilyError(f"unknown family {name!r}; known: {', '.join(self._by_name)}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def get(self, name: str, default: Family | None = None) -> Family | None:  # type: ignore[override]
        return self._by_name.get(name, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_name)

    def __len__(self) -> int:
        return len(self._by_name)

    def __repr__(self) -> str:
        return f"FamilyRegistry({', '.join(self._by_name)})"

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._by_name)

    def with_family(self, family: Family) -> "FamilyRegistry":
        """This registry plus ``family`` (a new registry; this one is unchanged)."""
        return FamilyRegistry([*self._by_name.values(), family])

    def of_task_id(self, task_id: object) -> Family | None:
        """The family a task id names by its prefix (``"repair-fixed-dedupe"`` -> repair), else None.
        Every built-in and BYO task id starts with its family and a ``-``."""
        if not isinstance(task_id, str):
            return None
        prefix = task_id.split("-", 1)[0]
        return self._by_name.get(prefix) if task_id.startswith(prefix + "-") else None


@functools.cache
def default_families() -> FamilyRegistry:
    """Every family module of this package, found by import (computed once; the value is immutable)."""
    found = []
    for module in pkgutil.iter_modules(__path__):
        if module.name == "family":
            continue
        family = getattr(importlib.import_module(f"{__name__}.{module.name}"), "FAMILY", None)
        if isinstance(family, Family):
            found.append(family)
    return FamilyRegistry(found)


def family_of(name: str) -> Family:
    """The built-in family ``name`` (raises :class:`UnknownFamilyError`, naming the known ones)."""
    return default_families()[name]


def make_grader(**options) -> Grader:
    """A new :class:`~env_server.grading.grader.Grader` playing the built-in families (or ``families=...``), with
    its own databases unless given ``databases=...``: ``Grader(families=default_families(), **options)``."""
    options.setdefault("families", None)
    options["families"] = options["families"] or default_families()
    return Grader(**options)


@functools.cache
def shared_grader() -> Grader:
    """The grader that environments made without one share in this process, and with it one cache of built
    databases and gold results: a hundred ``DataOpsEnv()`` on a 32 MB database hold it once, not a hundred times.
    Made on first use; an environment given its own grader does not use it."""
    return make_grader()
