"""The docs corpus: business documents on disk (``data/docs/*.md``) and ranked search over them.

Each document is one Markdown file with a small front matter::

    ---
    id: ecommerce-net-revenue
    title: Net revenue
    domain: ecommerce
    kind: definition
    status: current
    superseded_by:
    source:
    ---
    Net revenue is ...

:class:`DocCorpus` loads them into an in-memory SQLite FTS5 table and ranks matches with FTS5's
built-in BM25 (``ORDER BY rank``), with the title weighted above the body. Search is restricted to
one domain plus the ``general`` documents, as a company wiki is: an ecommerce task searches the
ecommerce documents. The agent's query text is reduced to its words, each quoted, so no query can
be an FTS5 syntax error.
"""
from __future__ import annotations

import re
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Literal

from env_server.core.data_paths import data_dir
from env_server.core.sandbox import scratch

DocStatus = Literal["current", "superseded", "draft"]
DocKind = Literal["definition", "policy", "note"]
DOC_ID = re.compile(r"^[a-z0-9][a-z0-9-]{2,79}$")


@dataclass(frozen=True)
class Doc:
    """One business document."""

    doc_id: str
    """Stable id, lowercase letters, digits and dashes, e.g. ``ecommerce-net-revenue-v2``."""
    title: str
    """A short title, e.g. "Net revenue (current definition)"."""
    domain: str
    """The domain it belongs to (``ecommerce``, ..., ``external-broker``), or ``general``."""
    kind: DocKind
    """definition, policy or note."""
    status: DocStatus
    """current, superseded or draft. Only current documents define anything."""
    body: str
    """Two to six plain-English sentences. Non-current documents say so in their own text."""
    superseded_by: str | None = None
    """For superseded and draft documents: the id of the current document."""
    source: str | None = None
    """Provenance for documents derived from outside material (repository, commit, file, licence)."""

    def __post_init__(self) -> None:
        if not DOC_ID.match(self.doc_id):
            raise ValueError(f"doc id {self.doc_id!r} must match {DOC_ID.pattern}")
        if self.status != "current" and not self.superseded_by:
            raise ValueError(f"doc {self.doc_id}: a {self.status} document must name the current one in superseded_by")


FIELDS = ("id", "title", "domain", "kind", "status", "superseded_by", "source")
_WORD = re.compile(r"[A-Za-z0-9_]+")
MAX_QUERY_TERMS = 16


def docs_dir() -> Path:
    """``data/docs`` of the data folder in use (``$DATAOPS_DATA_DIR`` aware)."""
    return data_dir() / "docs"


def render(doc: Doc) -> str:
    """One document as Markdown with front matter (deterministic)."""
    values = asdict(doc)
    values["id"] = values.pop("doc_id")
    head = "\n".join(f"{name}: {values.get(name) or ''}".rstrip() for name in FIELDS)
    return f"---\n{head}\n---\n{doc.body.strip()}\n"


def parse(text: str, origin: str = "<doc>") -> Doc:
    """Read a document written by :func:`render`; errors name the file and say what is missing."""
    if not text.startswith("---\n") or "\n---\n" not in text[4:]:
        raise ValueError(f"{origin}: a doc starts with a front matter block between '---' lines")
    head, body = text[4:].split("\n---\n", 1)
    values: dict[str, str] = {}
    for line in head.splitlines():
        name, _, value = line.partition(":")
        values[name.strip()] = value.strip()
    missing = [name for name in ("id", "title", "domain", "kind", "status") if not values.get(name)]
    if missing:
        raise ValueError(f"{origin}: front matter lacks {', '.join(missing)}")
    return Doc(
        doc_id=values["id"],
        title=values["title"],
        domain=values["domain"],
        kind=values["kind"],  # type: ignore[arg-type]
        status=values["status"],  # type: ignore[arg-type]
        body=body.strip(),
        superseded_by=values.get("superseded_by") or None,
        source=values.get("source") or None,
    )


def write_corpus(docs: Iterable[Doc], folder: Path) -> int:
    """Write every document to ``folder/<id>.md``, removing stale ``.md`` files. Returns the count."""
    folder.mkdir(parents=True, exist_ok=True)
    docs = list(docs)
    wanted = {f"{d.doc_id}.md" for d in docs}
    for stale in folder.glob("*.md"):
        if stale.name not in wanted and stale.name != "README.md":
            stale.unlink()
    for doc in docs:
        (folder / f"{doc.doc_id}.md").write_text(render(doc), encoding="utf-8")
    return len(docs)


def search_terms(query: str) -> str | None:
    """The agent's text as an FTS5 query: its words, each quoted, OR-ed (None when it has no word).

    >>> search_terms('net revenue "policy" OR NOT -x')
    '"net" OR "revenue" OR "policy" OR "or" OR "not" OR "x"'
    """
    words = [w.lower() for w in _WORD.findall(query or "")][:MAX_QUERY_TERMS]
    return " OR ".join(f'"{w}"' for w in words) if words else None


class DocCorpus:
    """The documents, indexed for search. Thread-safe; load once and share."""

    def __init__(self, docs: Iterable[Doc]):
        self.docs: dict[str, Doc] = {}
        for doc in docs:
            if doc.doc_id in self.docs:
                raise ValueError(f"duplicate doc id {doc.doc_id!r}")
            self.docs[doc.doc_id] = doc
        for doc in self.docs.values():
            if doc.superseded_by and doc.superseded_by not in self.docs:
                raise ValueError(f"doc {doc.doc_id} is superseded by {doc.superseded_by!r}, which does not exist")
        self._lock = threading.Lock()
        self._conn = scratch(check_same_thread=False)
        self._conn.execute(
            "CREATE VIRTUAL TABLE docs USING fts5(doc_id UNINDEXED, domain UNINDEXED, title, body, "
            "tokenize = 'porter unicode61')"
        )
        self._conn.executemany(
            "INSERT INTO docs (doc_id, domain, title, body) VALUES (?, ?, ?, ?)",
            [(d.doc_id, d.domain, d.title, d.body) for d in self.docs.values()],
        )

    @classmethod
    def load(cls, folder: Path | None = None) -> "DocCorpus":
        """Load ``folder`` (default ``data/docs``). A missing folder says how to build it."""
        folder = folder or docs_dir()
        files = sorted(folder.glob("*.md"))
        files = [f for f in files if f.name != "README.md"]
        if not files:
            raise FileNotFoundError(f"no documents in {folder}; build them with `python -m env_server build-data`")
        return cls(parse(f.read_text(encoding="utf-8"), origin=str(f)) for f in files)

    def __len__(self) -> int:
        return len(self.docs)

    def __contains__(self, doc_id: object) -> bool:
        return doc_id in self.docs

    def get(self, doc_id: str) -> Doc | None:
        return self.docs.get(doc_id)

    def search(self, query: str, domain: str | None = None, k: int = 5) -> list[dict[str, str | float]]:
        """The ``k`` best matches for ``query`` among ``domain``'s and the general documents.

        Each hit is ``{"doc_id", "title", "status", "snippet", "score"}``; ``score`` is FTS5's BM25
        rank (lower is better), ``snippet`` the matching passage with the terms in ``[...]``."""
        terms = search_terms(query)
        if terms is None:
            return []
        where, params = "docs MATCH ?", [terms]
        if domain is not None:
            where += " AND domain IN (?, 'general')"
            params.append(domain)
        sql = (
            "SELECT doc_id, title, snippet(docs, 3, '[', ']', ' ... ', 24), bm25(docs, 0.0, 0.0, 4.0, 1.0) AS score "
            f"FROM docs WHERE {where} ORDER BY score, doc_id LIMIT ?"
        )
        with self._lock:
            rows = self._conn.execute(sql, [*params, int(k)]).fetchall()
        return [
            {"doc_id": doc_id, "title": title, "status": self.docs[doc_id].status, "snippet": snippet,
             "score": round(score, 4)}
            for doc_id, title, snippet, score in rows
        ]

    def superseded(self) -> set[str]:
        """Ids of documents that are not current (superseded or draft)."""
        return {d.doc_id for d in self.docs.values() if d.status != "current"}
