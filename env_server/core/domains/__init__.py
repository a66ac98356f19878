"""The registry of seeded domains that task databases are built from.

Each submodule defines one ``DOMAIN``: a SQLite schema with a declared foreign-key graph and
a generator that fills it deterministically from a seed, with realistic mess planted (NULLs,
skew, orphaned foreign keys). ``DOMAINS`` maps each domain's name to it and is read-only;
build a database with ``populate(conn, get_domain(name), seed)``.
"""
from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from . import ecommerce, education, finance, healthcare, hr, logistics, streaming
from .base import Domain, populate

__all__ = ["DOMAINS", "Domain", "get_domain", "populate"]

DOMAINS: Mapping[str, Domain] = MappingProxyType({
    module.DOMAIN.name: module.DOMAIN
    for module in (ecommerce, hr, finance, logistics, education, healthcare, streaming)
})


def get_domain(name: str) -> Domain:
    """The registered domain called ``name``; ``KeyError`` naming the valid choices otherwise."""
    try:
        return DOMAINS[name]
    except KeyError:
        raise KeyError(f"unknown domain {name!r}; valid domains: {', '.join(sorted(DOMAINS))}") from None
