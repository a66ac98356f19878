"""Pull the final SQL statement (or a final answer) out of an LLM completion.

This is the front end of the GRPO reward functions (TRL): a completion arrives as a plain string
or as chat messages, and a grader needs the one SQL statement the model submitted or, when there
is none or it is malformed, a sentence saying why.  SQL is tokenized, segmented and validated with
sqlglot; regular expressions only locate markup (code fences, ``<sql>``/``<answer>``/``<think>``
tags, markdown) and the ``SELECT``/``WITH`` keywords where a trailing statement may start.

Completion shapes (:func:`completion_text`)
    * a ``str``;
    * one chat message, ``{"role": "assistant", "content": ...}``;
    * a list of messages.  A multi-turn completion interleaves assistant and tool messages, so the
      content of the LAST message whose role is ``assistant`` is used ("" when messages have roles
      but none is ``assistant``).  When no message has a ``role`` key the contents are joined
      with newlines.
    * ``content`` is a string, ``None``, or a list of parts (``{"type": "text", "text": ...}`` or
      plain strings); text parts are joined with newlines, other parts (images...) are skipped.
    Anything else raises ``TypeError``.

SQL extraction rules (:func:`extract_sql`)
    1. Reasoning is removed first: every ``<think>...</think>``, ``<thinking>...</thinking>`` and
       ``<reasoning>...</reasoning>`` section (tags case-insensitive).  A closing tag with no
       opener (chat templates that open ``<think>`` in the prompt) drops everything before it.
       An unclosed opening tag means everything after it is reasoning: nothing is extracted
       from there.
    2. Answer blocks are every ``<sql>...</sql>`` tag (case-insensitive) and every markdown code
       fence (three backticks) whose language is ``sql``, ``sqlite`` or ``sqlite3`` (any case) or
       absent.  Fences in another language (python, text...) are not blocks, and their contents
       are never searched for SQL.  The final answer is the last block; ``blocks`` counts all of
       them (``format_reward`` separately rewards exactly one block).  A tag or fence still open
       at the end of the text (a truncated completion) counts as a block, with an error.
    3. With no blocks, the answer is the trailing statement: the last statement in the text that
       starts with ``SELECT`` or ``WITH`` (any case, at a word boundary) and parses.  From that
       keyword on, sqlglot's tokens delimit it: the first ``;`` token ends it, and so does a ``.``
       token followed by whitespace (a full stop).  Short of such an end, the parser finds the
       longest token prefix that parses as exactly one statement, dropping the paragraph (after a
       blank line) where parsing fails, else the tokens from the failure on.  So prose after a
       ``;``, a full stop or a blank line is dropped.  A statement left incomplete where the text
       ends (a truncated ``... WHERE``) is not shortened into a different valid one: it is reported
       as not parsing.  ``SELECT``s nested in an earlier statement (subqueries) are not candidates,
       and one written in lower or mixed case must read ``FROM`` something ("we select the rows"
       is prose).
       When no candidate parses, the last upper-case ``SELECT``/``WITH`` statement (up to its
       ``;``, or through the line where parsing failed) is returned with an error.
    4. The chosen SQL must parse with ``sqlglot.parse(sql, read=dialect)`` into exactly one
       non-empty statement.  When it does not, ``sql`` is still returned (so a grader can report
       the syntax error) and ``error`` says why, e.g. "the <sql> block does not parse: ..." or
       "the fenced block holds 2 statements; submit one".  An empty block (or one holding only
       comments) gives ``sql=None`` and e.g. "the fenced block is empty".
    5. Nothing found: ``Extraction(None, None, 0, NO_SQL)``, where ``NO_SQL`` is "no SQL found:
       expected a ```sql fence, a <sql> tag, or a final SELECT/WITH statement".
    6. ``sql`` is stripped and carries no trailing ``;``.  Extraction never raises on string input
       (an unexpected failure becomes an error starting "internal error").  A block costs one
       sqlglot parse; a trailing statement a tokenization and a few parses (prose SELECT/WITH words
       are probed on a short window first).

Scripts (:func:`extract_script`) are for the repair family: the last SQL block (as in rule 2) may
hold several statements, split where SQLite would split them
(:func:`env_server.tasks.spec.split_statements`, which the grader uses too); each must parse with
sqlglot as one statement.  ``sql`` holds the statements, without their ``;``, joined with ``";\n"``
(comment-only pieces are dropped).  There is no trailing-statement fallback: a script must be in a
block.

Answers (:func:`extract_answer`) are for question-answering task families: the last
``<answer>...</answer>`` tag, else the last non-empty line, with markdown stripped.  It reuses
:class:`Extraction`, with the ``sql`` field holding the answer text.  Citations
(:func:`extract_citations`, grounded family) are the doc ids in the last ``<citations>...</citations>``
tag, else in the last line that starts with "Citations:"; neither is ever part of the answer.

Size: over 600 lines because the extraction rules above each handle one completion shape a policy really produces; they are one decision (what a completion submits) and are tested together.
"""
from __future__ import annotations

import re
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import Token, TokenType

from env_server.core import sqlglot_quiet

sqlglot_quiet.install()  # a garbage completion is reported as an extraction error, not a log line

__all__ = [
    "DOC_ID",
    "NO_ANSWER",
    "NO_SCRIPT",
    "NO_SQL",
    "Extraction",
    "citation_blocks",
    "completion_text",
    "extract_answer",
    "extract_citations",
    "extract_script",
    "extract_sql",
]

NO_SQL = "no SQL found: expected a ```sql fence, a <sql> tag, or a final SELECT/WITH statement"
NO_ANSWER = "no answer found: the completion has no <answer> tag and no non-empty line"
NO_SCRIPT = "no SQL script found: expected a ```sql fence or a <sql> tag holding the statements"
DOC_ID = re.compile(r"[a-z0-9][a-z0-9-]{2,79}")
"""What a doc id looks like (``ecommerce-net-revenue``); :func:`extract_citations` keeps tokens matching it."""
SQL_FENCE_LANGUAGES = frozenset({"", "sql", "sqlite", "sqlite3"})

_UNCLOSED_THINK_NOTE = " (the text after an unclosed <think> tag is reasoning and is not searched)"
_MAX_STATEMENT_CHARS = 8000  # a trailing statement is looked for in this many characters after its keyword
_MAX_CANDIDATES = 64  # SELECT/WITH keywords examined, the last ones in the text
_MAX_PARSE_TRIES = 8  # prefixes tried per candidate before giving up on it
_MAX_MESSAGE = 160  # characters of a parse error kept in `error`


@dataclass(frozen=True)
class Extraction:
    """What was pulled out of a completion.

    sql:    the extracted statement, stripped, without a trailing ';' (for :func:`extract_script`,
            the statements joined with ";\n"; for :func:`extract_answer`, the answer text); None
            when nothing usable was found.
    source: "sql_tag", "fence" or "trailing" ("answer_tag" or "trailing" for answers); None when
            nothing was found.
    blocks: how many answer blocks the completion holds (<sql> tags plus SQL code fences, or
            <answer> tags); 0 for a trailing statement or when nothing was found.
    error:  None when ``sql`` is well-formed; otherwise a sentence saying why not.
    """

    sql: str | None
    source: str | None
    blocks: int
    error: str | None

    @property
    def ok(self) -> bool:
        """True when a statement (or answer) was found and it is well-formed."""
        return self.sql is not None and self.error is None


# --------------------------------------------------------------------------- completion shapes


def completion_text(completion: Any) -> str:
    """The text of a completion: a str, a chat message dict, or a list of messages (module docstring).

    >>> completion_text([{"role": "assistant", "content": [{"type": "text", "text": "hi"}]}])
    'hi'
    """
    if isinstance(completion, str):
        return completion
    if isinstance(completion, Mapping):
        return _message_text(completion)
    if isinstance(completion, (list, tuple)):
        for item in completion:
            if not isinstance(item, (str, Mapping)):
                raise TypeError(
                    "a completion list must hold chat messages (dicts) or strings; "
                    f"got an item of type {type(item).__name__}"
                )
        if any(isinstance(m, Mapping) and "role" in m for m in completion):
            replies = [m for m in completion if isinstance(m, Mapping) and m.get("role") == "assistant"]
            return _message_text(replies[-1]) if replies else ""
        return "\n".join(m if isinstance(m, str) else _message_text(m) for m in completion)
    raise TypeError(
        "a completion must be a str, a chat message dict, or a list of chat messages; "
        f"got {type(completion).__name__}"
    )


def _message_text(message: Mapping) -> str:
    """The text of one chat message (or of one bare content part)."""
    if "content" in message:
        return _content_text(message["content"])
    if "text" in message:
        return _content_text(message["text"])
    return ""


def _content_text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, (list, tuple)):
        texts = []
        for part in content:
            if isinstance(part, str):
                texts.append(part)
            elif isinstance(part, Mapping):
                if part.get("type", "text") == "text" and isinstance(part.get("text"), str):
                    texts.append(part["text"])
            else:
                raise TypeError(f"a message content part must be a dict or a str; got {type(part).__name__}")
        return "\n".join(texts)
    raise TypeError(f"message content must be a str, None or a list of parts; got {type(content).__name__}")


# --------------------------------------------------------------------------- markup

_REASONING_TAG = re.compile(r"<(/?)(think|thinking|reasoning)\b[^<>]*>", re.IGNORECASE)
# A <sql> tag (innermost opener before its closer) or a closed code fence, leftmost first.
_BLOCK = re.compile(r"<sql\b[^<>]*>(?P<tag>(?:(?!<sql\b)[\s\S])*?)</sql\s*>|```(?P<fence>[\s\S]*?)```", re.IGNORECASE)
_OPENER = re.compile(r"<sql\b[^<>]*>|```", re.IGNORECASE)
_LANGUAGE_NAME = re.compile(r"[A-Za-z][\w+#.-]*$")
_CANDIDATE = re.compile(r"(?<![\w.$@])(?:select|with)(?![\w$])", re.IGNORECASE)


def _strip_reasoning(text: str) -> tuple[str, bool]:
    """(text without reasoning sections, whether an unclosed opening tag cut the tail off).

    One pass over the tags: an opener starts a section that its matching closer ends; a closer
    outside any section drops everything before it; a section still open at the end drops the rest.
    """
    pieces: list[str] = []
    kept_from = 0
    open_at, open_name = -1, ""
    for tag in _REASONING_TAG.finditer(text):
        closing, name = tag.group(1) == "/", tag.group(2).lower()
        if open_at < 0 and not closing:
            open_at, open_name = tag.start(), name
        elif open_at >= 0 and closing and name == open_name:
            pieces += [text[kept_from:open_at], "\n"]
            kept_from, open_at = tag.end(), -1
        elif open_at < 0 and closing:  # the reasoning began before the completion did
            pieces, kept_from = [], tag.end()
    if open_at >= 0:
        return "".join(pieces) + text[kept_from:open_at], True
    return "".join(pieces) + text[kept_from:], False


@dataclass(frozen=True)
class _Block:
    source: str  # "sql_tag" | "fence"
    body: str
    closed: bool

    @property
    def kind(self) -> str:
        return "<sql> block" if self.source == "sql_tag" else "fenced block"


def _scan_blocks(text: str, dialect: Dialect) -> tuple[list[_Block], str]:
    """(the SQL blocks in order, the text with non-SQL fences masked out for the trailing search)."""
    blocks: list[_Block] = []
    pieces: list[str] = []
    kept_from = end = 0
    for match in _BLOCK.finditer(text):
        end = match.end()
        if match.group("tag") is not None:
            blocks.append(_Block("sql_tag", _unwrap(match.group("tag"), dialect), True))
            continue
        language, body = _split_fence(match.group("fence"), dialect)
        if language in SQL_FENCE_LANGUAGES:
            blocks.append(_Block("fence", _unwrap(body, dialect), True))
        else:
            pieces += [text[kept_from: match.start()], "\n\n"]
            kept_from = end
    tail = text[kept_from:]
    opener = _OPENER.search(text, end)
    if opener:  # an opener never closed: the completion was cut off inside it (or it is a stray marker)
        rest = text[opener.end():]
        if opener.group().startswith("<"):
            blocks.append(_Block("sql_tag", rest, False))
        else:
            language, body = _split_fence(rest, dialect)
            if language in SQL_FENCE_LANGUAGES:
                blocks.append(_Block("fence", body, False))
            else:
                tail = text[kept_from: opener.start()]
    return blocks, "".join(pieces) + tail


def _split_fence(inner: str, dialect: Dialect) -> tuple[str, str]:
    """(language, body) of what lies between a fence's backticks; language '' when untagged."""
    first, _, rest = inner.partition("\n")
    words = first.split(None, 1)
    if not words:
        return "", rest
    head = words[0]
    if head.lower() in SQL_FENCE_LANGUAGES:
        return head.lower(), (words[1] + "\n" if len(words) > 1 else "") + rest
    if _starts_statement(head, dialect) or not _LANGUAGE_NAME.match(head):
        return "", inner  # SQL begins right after the backticks: ```SELECT 1```
    return head.lower(), rest


def _unwrap(body: str, dialect: Dialect) -> str:
    """The last complete fence or <sql> tag nested in a block's body, else the body itself."""
    inner = None
    for match in _BLOCK.finditer(body):
        inner = match
    if inner is None:
        return body
    if inner.group("tag") is not None:
        return inner.group("tag")
    return _split_fence(inner.group("fence"), dialect)[1]


@cache
def _dialect(name: str | Dialect) -> Dialect:
    return Dialect.get_or_raise(name)


@lru_cache(maxsize=4096)
def _starts_statement(word: str, dialect: Dialect) -> bool:
    """Whether sqlglot reads `word` as a keyword that opens a statement (SELECT, WITH, INSERT...)."""
    try:
        tokens = dialect.tokenize(word)
    except Exception:  # noqa: BLE001
        return False
    if len(tokens) != 1:
        return False
    kind = tokens[0].token_type
    return kind in (TokenType.SELECT, TokenType.WITH) or (
        kind in dialect.parser_class.STATEMENT_PARSERS and kind != TokenType.SEMICOLON
    )


# --------------------------------------------------------------------------- sqlglot checks

_TOKEN_REPR = re.compile(r"<Token token_type: TokenType\.(\w+), text: (.*?), line: \d+[^<>]*>", re.DOTALL)
_CLASS_REPR = re.compile(r"<class '(?:[\w.]+\.)?(\w+)'>")


def _short(error: Exception) -> str:
    """A one-line digest of a sqlglot error."""
    if isinstance(error, ParseError) and error.errors:
        detail = error.errors[0]
        message = str(detail.get("description") or "invalid SQL")
        message = _TOKEN_REPR.sub(
            lambda m: "the end of the input" if m.group(1) == "SENTINEL" else f"'{m.group(2)}'", message
        )
        message = _CLASS_REPR.sub(r"\1", message)
        highlight = detail.get("highlight")
        if highlight and f"'{highlight}'" not in message:
            message += f" at '{highlight}'"
        if detail.get("line") is not None:
            message += f" (line {detail['line']}, col {detail['col']})"
    elif isinstance(error, TokenError):
        message = "cannot tokenize it (an unterminated string or quoted name?)"
    else:
        message = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    message = " ".join(message.split())
    return message if len(message) <= _MAX_MESSAGE else message[: _MAX_MESSAGE - 3] + "..."


def _statements(parsed: list) -> list[exp.Expression]:
    return [s for s in parsed if s is not None and not isinstance(s, exp.Semicolon)]


def _problem(statements: list[exp.Expression]) -> str | None:
    """Why a parsed block is not one usable statement (the predicate of a sentence), or None."""
    if not statements:
        return "holds no SQL statement"
    if len(statements) > 1:
        return f"holds {len(statements)} statements; submit one"
    if isinstance(statements[0], exp.Select) and not statements[0].expressions:
        return "does not parse: the SELECT has no result columns"
    return None


def _check(sql: str, dialect: Dialect) -> str | None:
    """Why `sql` is not exactly one well-formed statement (a predicate), or None."""
    try:
        parsed = sqlglot.parse(sql, read=dialect)
    except Exception as error:  # noqa: BLE001 - ParseError, TokenError, and anything odd (deep nesting...)
        return "does not parse: " + _short(error)
    return _problem(_statements(parsed))


def _clean_sql(sql: str) -> str:
    sql = sql.strip()
    while sql.endswith(";"):
        sql = sql[:-1].rstrip()
    return sql


def _from_block(block: _Block, count: int, dialect: Dialect) -> Extraction:
    sql = _clean_sql(block.body)
    unclosed = "" if block.closed else " is never closed (a truncated completion?)"
    if not sql:
        return Extraction(None, block.source, count, f"the {block.kind} is empty" + (unclosed and " and" + unclosed))
    problem = _check(sql, dialect)
    if problem == "holds no SQL statement":
        return Extraction(None, block.source, count, f"the {block.kind} {problem}")
    if unclosed:
        return Extraction(sql, block.source, count, f"the {block.kind}{unclosed}" + (f"; it {problem}" if problem else ""))
    return Extraction(sql, block.source, count, f"the {block.kind} {problem}" if problem else None)


# --------------------------------------------------------------------------- trailing statement


@dataclass(frozen=True)
class _Found:
    sql: str
    problem: str | None  # None when it parses as one statement
    end: int  # offset in the text just past the statement (or its ';')
    nested: tuple[int, ...] = ()  # offsets of SELECT/WITH inside its parentheses (when it failed)
    reads_table: bool = False  # it parses and selects FROM something


def _tokenize(text: str, dialect: Dialect) -> list[Token]:
    """sqlglot tokens of `text`, or of its longest tokenizable start (prose has stray quotes)."""
    tokenizer = dialect.tokenizer()
    try:
        return tokenizer.tokenize(text)
    except TokenError:
        # sqlglot keeps the tokens read before the error; use them where this version exposes them.
        partial = getattr(getattr(tokenizer, "_core", None), "tokens", None)
        if isinstance(partial, list) and all(isinstance(t, Token) for t in partial):
            return list(partial)
    except Exception:  # noqa: BLE001
        return []
    best: list[Token] = []
    cut = text.find("\n")
    while cut != -1 and len(best) < 2000:  # fallback: the longest run of whole lines that tokenizes
        try:
            best = dialect.tokenizer().tokenize(text[:cut])
        except Exception:  # noqa: BLE001
            break
        cut = text.find("\n", cut + 1)
    return best


def _error_index(error: ParseError, tokens: list[Token]) -> int | None:
    """Index of the token a ParseError points at."""
    if not error.errors:
        return None
    line, col = error.errors[0].get("line"), error.errors[0].get("col")
    if not isinstance(line, int) or not isinstance(col, int):
        return None
    for index, token in enumerate(tokens):
        if (token.line, token.col) >= (line, col):
            return index
    return None


@dataclass(frozen=True)
class _Failure:
    problem: str  # the predicate of the error sentence
    bad: int | None  # index of the token the parser stopped at
    surplus: bool  # sqlglot read a whole statement and then met a token it could not place


def _parse_tokens(tokens: list[Token], text: str, dialect: Dialect) -> _Failure | exp.Expression:
    """The one statement `tokens` parse as, else why they do not."""
    try:
        parsed = dialect.parser().parse(tokens, text)
    except ParseError as error:
        surplus = bool(error.errors) and "Unexpected token" in str(error.errors[0].get("description"))
        return _Failure("does not parse: " + _short(error), _error_index(error, tokens), surplus)
    except Exception as error:  # noqa: BLE001
        return _Failure("does not parse: " + _short(error), None, False)
    statements = _statements(parsed)
    problem = _problem(statements)
    return statements[0] if problem is None else _Failure(problem, len(tokens) - 1, False)


def _span(text: str, tokens: list[Token]) -> str:
    return text[tokens[0].start: tokens[-1].end + 1].strip()


def _statement_at(text: str, start: int, dialect: Dialect) -> _Found | None:
    """The statement that begins at `start` (a SELECT/WITH keyword), parsed or not."""
    if not text[start: start + 4].isupper() and len(text) - start > _PROBE_CHARS:
        # Lower-case select/with is mostly prose that fails within a few tokens: probe a short
        # window first, and tokenize the rest of the text only if the probe cannot tell.
        outcome = _statement_in(text[start: start + _PROBE_CHARS], start, dialect, probe=True)
        if outcome is not _UNDECIDED:
            return outcome  # type: ignore[return-value]
    return _statement_in(text[start: start + _MAX_STATEMENT_CHARS], start, dialect, probe=False)  # type: ignore[return-value]


_UNDECIDED = object()
_PROBE_CHARS = 120  # characters tokenized by a probe
_PROBE_TOKENS = 16  # tokens a probe parses
_EDGE = 32  # a token ending this close to the probe window's edge may differ in the whole text
_LOOKAHEAD = 4  # tokens the parser may read past the one it fails at


def _statement_in(segment: str, start: int, dialect: Dialect, probe: bool) -> _Found | None | object:
    """_statement_at over `segment` = text[start:...].

    A probe looks at the first tokens only and answers _UNDECIDED unless they settle the matter.
    """
    tokens = _tokenize(segment, dialect)
    if probe:  # tokens far from the window's edge are what the whole text would give too
        tokens = [t for t in tokens[:_PROBE_TOKENS] if t.end < len(segment) - _EDGE]
    if not tokens or tokens[0].start != 0:
        return None
    bounded = not probe  # whether the statement's extent is settled by these tokens

    def decided(used: int, found: _Found) -> _Found | object:
        return found if bounded or used + 1 < len(tokens) else _UNDECIDED

    end, stop_number = None, None
    for index, token in enumerate(tokens):
        if token.token_type == TokenType.SEMICOLON:
            end, bounded = index, True
            break
        if segment[token.end + 1: token.end + 2].strip():
            continue
        # A full stop (a '.' before whitespace) ends the sentence, hence the statement.
        if token.token_type == TokenType.DOT:
            tokens, bounded = tokens[:index], True
            break
        if token.token_type == TokenType.NUMBER and token.text.endswith("."):  # "... LIMIT 10. It ..."
            tokens, bounded, stop_number = tokens[: index + 1], True, token
            break

    def span(size: int) -> str:
        sql = _span(segment, tokens[:size])
        return sql[:-1] if tokens[size - 1] is stop_number else sql

    if end is not None:  # an explicit end: the statement is everything before it, parsed or not
        if end == 0:
            return None
        statement = tokens[:end]
        result = _parse_tokens(statement, segment, dialect)
        end_offset = start + tokens[end].end + 1
        if isinstance(result, _Failure):
            return _Found(_span(segment, statement), result.problem, end_offset)
        return _Found(_span(segment, statement), None, end_offset, (), _selects_from(result))
    if not tokens:
        return None

    blank_lines = [  # indexes of tokens that follow a blank line
        i for i in range(1, len(tokens))
        if segment.count("\n", tokens[i - 1].end + 1, tokens[i].start) >= 2
    ]
    first_failure: _Failure | None = None
    size = len(tokens)
    for _ in range(_MAX_PARSE_TRIES):
        result = _parse_tokens(tokens[:size], segment, dialect)
        if not isinstance(result, _Failure):
            end_offset = start + tokens[size - 1].end + 1
            found = _Found(span(size), None, end_offset, (), _selects_from(result))
            return decided(len(tokens), found) if first_failure is None else found
        if first_failure is None:
            first_failure = result
            if not bounded and (result.bad is None or result.bad + _LOOKAHEAD >= len(tokens)):
                return _UNDECIDED  # it fails near the probe's end: the whole text may differ
        bad = result.bad if result.bad is not None and result.bad < size else size - 1
        paragraph = max((i for i in blank_lines if i <= bad), default=0)
        if paragraph > 0:
            size = paragraph  # drop the paragraph holding the error: prose after a blank line
        elif 0 < bad < size and (result.surplus or bad < size - 1):
            size = bad  # drop the bad token onwards: prose after the statement on its line
        else:
            break  # incomplete where the text ends (truncated?): shortening would hide that
    if first_failure is None:  # only when _MAX_PARSE_TRIES is 0
        return None

    # Nothing parses: report the statement through the line where parsing first failed.
    bad = first_failure.bad
    if bad is not None and 0 <= bad < len(tokens):
        last = max(i for i, t in enumerate(tokens) if t.line == tokens[bad].line)
    else:
        last = (blank_lines[0] if blank_lines else len(tokens)) - 1
    depth, nested = 0, []
    for token in tokens[: last + 1]:
        if token.token_type == TokenType.L_PAREN:
            depth += 1
        elif token.token_type == TokenType.R_PAREN:
            depth -= 1
        elif depth > 0 and token.token_type in (TokenType.SELECT, TokenType.WITH):
            nested.append(start + token.start)
    found = _Found(span(last + 1), first_failure.problem, start + tokens[last].end + 1, tuple(nested))
    return decided(last, found)


def _selects_from(statement: exp.Expression) -> bool:
    """Whether a parsed statement reads FROM something: "select the rows" in prose does not."""
    return statement.find(exp.From) is not None


def _trailing(text: str, dialect: Dialect) -> Extraction | None:
    """The last SELECT/WITH statement in `text` that parses (else the last upper-case one that does not)."""
    starts = [m.start() for m in _CANDIDATE.finditer(text)][-_MAX_CANDIDATES:]
    parsed: _Found | None = None
    broken: _Found | None = None
    resume, skip = 0, set()
    for start in starts:
        if start < resume or start in skip:
            continue  # inside an earlier statement (a subquery, or a string in it)
        found = _statement_at(text, start, dialect)
        if found is None:
            continue
        keyword = text[start: start + 4].isupper()  # written as a keyword, so meant as SQL
        if found.problem is None:
            if keyword or found.reads_table:  # lower-case "select the rows" is prose
                parsed, resume = found, found.end
        elif keyword:
            broken = found
            skip.update(found.nested)
            if text[found.end - 1: found.end] == ";":
                resume = found.end
    if parsed is not None:
        # Parsed above from the same tokens sqlglot.parse would read: exactly one statement.
        return Extraction(parsed.sql, "trailing", 0, None)
    if broken is not None:
        return Extraction(broken.sql, "trailing", 0, f"the trailing statement {broken.problem}")
    return None


# --------------------------------------------------------------------------- public API


def extract_sql(completion: Any, dialect: str = "sqlite") -> Extraction:
    r"""The final SQL statement of a completion, following the rules in the module docstring.

    The last ```sql fence or <sql> tag wins; with none, the last SELECT/WITH statement:

    >>> extract_sql("Here you go:\n```sql\nSELECT name FROM users;\n```")
    Extraction(sql='SELECT name FROM users', source='fence', blocks=1, error=None)
    >>> extract_sql("<sql>SELECT 1</sql> or better <SQL>SELECT 2</SQL>")
    Extraction(sql='SELECT 2', source='sql_tag', blocks=2, error=None)
    >>> extract_sql("The query is:\nSELECT id FROM t WHERE x > 1; it returns the ids.")
    Extraction(sql='SELECT id FROM t WHERE x > 1', source='trailing', blocks=0, error=None)

    Malformed SQL is still returned, with the reason:

    >>> r = extract_sql("<sql>SELECT id FROM t WHERE</sql>")
    >>> r.sql, r.ok
    ('SELECT id FROM t WHERE', False)
    >>> r.error  # doctest: +ELLIPSIS
    "the <sql> block does not parse: Required keyword: 'this' missing for Where at 'WHERE' ..."
    >>> extract_sql("```sql\nSELECT 1; SELECT 2;\n```").error
    'the fenced block holds 2 statements; submit one'
    >>> extract_sql("<think>maybe SELECT 1</think>I cannot answer that.").error
    'no SQL found: expected a ```sql fence, a <sql> tag, or a final SELECT/WITH statement'
    """
    resolved = _dialect(dialect)  # an unknown dialect name raises ValueError: a caller's mistake
    text, cut_off = _strip_reasoning(completion_text(completion))
    try:
        blocks, rest = _scan_blocks(text, resolved)
        if blocks:
            return _from_block(blocks[-1], len(blocks), resolved)
        found = _trailing(rest, resolved)
    except Exception as error:  # noqa: BLE001 - never take a training run down over one completion
        return Extraction(None, None, 0, f"internal error while extracting SQL: {type(error).__name__}: {error}")
    if found is not None:
        return found
    return Extraction(None, None, 0, NO_SQL + (_UNCLOSED_THINK_NOTE if cut_off else ""))


def _join_statements(statements: list[str]) -> str:
    """Statements (without their ';') as one script that SQLite splits back into the same statements.

    A statement whose end a ';' would not close (a trailing ``-- comment``) gets its ';' on a new line.
    """
    parts = []
    for number, sql in enumerate(statements, start=1):
        if number < len(statements) and not sqlite3.complete_statement(sql + ";") \
                and sqlite3.complete_statement(sql + "\n;"):
            sql += "\n"
        parts.append(sql)
    return ";\n".join(parts)


def _script_from_block(block: _Block, count: int, dialect: Dialect) -> Extraction:
    from env_server.tasks.spec import split_statements  # the grader's own splitting

    unclosed = "" if block.closed else " is never closed (a truncated completion?)"
    if not _clean_sql(block.body):
        return Extraction(None, block.source, count, f"the {block.kind} is empty" + (unclosed and " and" + unclosed))
    statements: list[str] = []
    problems: list[str] = []
    for piece in split_statements(block.body):
        sql = _clean_sql(piece)
        if not sql:
            continue
        problem = _check(sql, dialect)
        if problem == "holds no SQL statement":
            continue  # only comments: nothing to run
        statements.append(sql)
        if problem is not None:
            problems.append(f"statement {len(statements)} {problem}")
    if not statements:
        return Extraction(None, block.source, count, f"the {block.kind} holds no SQL statement")
    script = _join_statements(statements)
    errors = []
    if unclosed:
        errors.append(f"the {block.kind}{unclosed}")
    if problems:
        errors.append(f"the {block.kind}'s " + "; ".join(problems[:3]) + ("; ..." if len(problems) > 3 else ""))
    return Extraction(script, block.source, count, "; ".join(errors) or None)


def extract_script(completion: Any, dialect: str = "sqlite") -> Extraction:
    r"""The SQL script of a repair completion: every statement of the last ```sql fence or <sql> tag.

    The block is split where SQLite splits statements (what the grader replays); comment-only
    pieces are dropped; each statement must parse with sqlglot as exactly one statement.  ``sql``
    holds the statements without their ``;``, joined with ``";\n"``.  A statement that does not
    parse is kept in ``sql`` (replayed, it fails and changes nothing) and ``error`` names it.
    There is no trailing-statement fallback: without a block, ``sql`` is None.

    >>> extract_script("Fix:\n```sql\nUPDATE t SET a = 1 WHERE a IS NULL;\nDELETE FROM t WHERE b < 0;\n```")
    Extraction(sql='UPDATE t SET a = 1 WHERE a IS NULL;\nDELETE FROM t WHERE b < 0', source='fence', blocks=1, error=None)
    >>> extract_script("<sql>UPDATE t SET a = 1; UPDAT t SET b = 2</sql>").error  # doctest: +ELLIPSIS
    "the <sql> block's statement 2 does not parse: ..."
    >>> extract_script("UPDATE t SET a = 1").error
    'no SQL script found: expected a ```sql fence or a <sql> tag holding the statements'
    """
    resolved = _dialect(dialect)
    text, cut_off = _strip_reasoning(completion_text(completion))
    try:
        blocks, _ = _scan_blocks(text, resolved)
        if blocks:
            return _script_from_block(blocks[-1], len(blocks), resolved)
    except Exception as error:  # noqa: BLE001 - never take a training run down over one completion
        return Extraction(None, None, 0, f"internal error while extracting the script: {type(error).__name__}: {error}")
    return Extraction(None, None, 0, NO_SCRIPT + (_UNCLOSED_THINK_NOTE if cut_off else ""))


_CITATIONS = re.compile(r"<citations?\b[^<>]*>((?:(?!<citations?\b)[\s\S])*?)</citations?\s*>", re.IGNORECASE)
_CITATIONS_OPEN = re.compile(r"<citations?\b[^<>]*>", re.IGNORECASE)
# A line that starts with "Citations:" (markdown allowed around the word), up to a closing tag on that line.
_CITATIONS_LINE = re.compile(
    r"^[ \t>#*_`\-+\u2022]*citations?[ \t*_`]*[:=](?P<ids>[^\n<]*)", re.IGNORECASE | re.MULTILINE
)
_TAG_MARKUP = re.compile(r"<[^<>]*>")
_ID_SEPARATORS = re.compile(r"[\s,;|]+")
_ID_STRIP = "[](){}\"'`*_.:!?"
_NOT_IDS = frozenset({"and", "or", "none"})  # separators and "Citations: none"


def _doc_ids(text: str) -> list[str]:
    """Doc ids in a citations list: tokens split on whitespace, ``,``, ``;`` and ``|``, stripped of
    brackets, quotes and markdown, that match :data:`DOC_ID`; "and", "or" and "none" are not ids. In order, once."""
    ids: list[str] = []
    for token in _ID_SEPARATORS.split(_TAG_MARKUP.sub(" ", text)):
        token = token.strip(_ID_STRIP)
        token = token.removesuffix(".md")
        if token not in _NOT_IDS and DOC_ID.fullmatch(token):
            ids.append(token)
    return list(dict.fromkeys(ids))


def _citations_in(text: str) -> tuple[str | None, str | None, int]:
    """(the citation list's text, its source "citations_tag" | "citations_line", how many tags)."""
    tags = list(_CITATIONS.finditer(text))
    if tags:
        return tags[-1].group(1), "citations_tag", len(tags)
    opener = _CITATIONS_OPEN.search(text)
    if opener:  # never closed (a truncated completion): the rest of the text is the list
        return text[opener.end():], "citations_tag", 1
    lines = list(_CITATIONS_LINE.finditer(text))
    if lines:
        return lines[-1].group("ids"), "citations_line", 0
    return None, None, 0


def _without_citations(text: str) -> str:
    """The text without its citations: tags (an unclosed one to the end) and "Citations:" lines."""
    text = _CITATIONS.sub("\n", text)
    opener = _CITATIONS_OPEN.search(text)
    if opener:
        text = text[: opener.start()]
    return _CITATIONS_LINE.sub("", text)


def extract_citations(completion: Any) -> list[str]:
    r"""The doc ids a grounded completion cites, in order, each once.

    They are read from the last ``<citations>...</citations>`` tag (an unclosed tag runs to the end
    of the text), else from the last line that starts with "Citations:" (markdown around the word is
    fine).  Ids are split on whitespace, commas, semicolons, ``|`` and "and"/"or"; brackets, quotes,
    backticks and a ``.md`` suffix are stripped; only tokens matching :data:`DOC_ID`
    (``[a-z0-9][a-z0-9-]{2,79}``) are kept.  Reasoning is removed first as for :func:`extract_sql`.

    >>> extract_citations("<answer>42</answer>\n<citations>ecommerce-net-revenue, general-fiscal-calendar</citations>")
    ['ecommerce-net-revenue', 'general-fiscal-calendar']
    >>> extract_citations("The answer is 42.\n**Citations:** [ecommerce-net-revenue] and `ecommerce-net-revenue`")
    ['ecommerce-net-revenue']
    >>> extract_citations("<answer>42</answer>")
    []
    """
    text, _ = _strip_reasoning(completion_text(completion))
    try:
        found, _, _ = _citations_in(text)
        return _doc_ids(found) if found is not None else []
    except Exception:  # noqa: BLE001 - never take a training run down over one completion
        return []


def citation_blocks(completion: Any) -> tuple[str | None, int, list[str]]:
    """(source "citations_tag" | "citations_line" | None, how many ``<citations>`` tags, the ids): what
    ``format_reward`` checks. Never raises on text."""
    text, _ = _strip_reasoning(completion_text(completion))
    try:
        found, source, tags = _citations_in(text)
        return source, tags, _doc_ids(found) if found is not None else []
    except Exception:  # noqa: BLE001
        return None, 0, []


_ANSWER = re.compile(r"<answer\b[^<>]*>((?:(?!<answer\b)[\s\S])*?)</answer\s*>", re.IGNORECASE)
_ANSWER_OPEN = re.compile(r"<answer\b[^<>]*>", re.IGNORECASE)
_ONLY_MARKUP = re.compile(r"^[\s\-*_=#>`|~]*$")
_BULLET = re.compile(r"^(?:#{1,6}|>|[-*+\u2022])\s+")
_BOLD = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_ITALIC_STAR = re.compile(r"(?<![\w*])\*(?=\S)(.+?)(?<=\S)\*(?![\w*])")
_ITALIC_UNDERSCORE = re.compile(r"(?<![\w_])_(?=\S)(.+?)(?<=\S)_(?![\w_])")
_PREAMBLE = re.compile(
    r"^(?:(?:so|thus|therefore|hence)\b,?\s*)?(?:the\s+)?(?:final\s+|correct\s+)?(?:answer|result)\b"
    r"(?:\s+is\b\s*:?|\s*[:=])\s*",
    re.IGNORECASE,
)
_INITIALISM = re.compile(r"(?:^|\s)(?:[A-Za-z]\.){2,}$")


def _clean_line(line: str) -> str:
    """One line of an answer without markdown or an "Answer:" preamble."""
    if _ONLY_MARKUP.match(line):
        return ""  # ---, ```, ***, a bare bullet
    line = line.strip()
    previous = None
    while previous != line:
        previous, line = line, _BULLET.sub("", line).strip()
    line = _BOLD.sub(r"\2", line)
    line = _ITALIC_STAR.sub(r"\1", line)
    line = _ITALIC_UNDERSCORE.sub(r"\1", line)
    line = re.sub(r"\*{2,}", "", line).replace("`", "")
    line = _PREAMBLE.sub("", line.strip())
    return " ".join(line.split())


def _clean_answer(text: str) -> str:
    answer = " ".join(filter(None, (_clean_line(line) for line in text.splitlines())))
    answer = _PREAMBLE.sub("", answer).strip()
    if answer.endswith(".") and not answer.endswith("..") and not _INITIALISM.search(answer):
        answer = answer[:-1].rstrip()  # "The answer is 42." -> "42"
    return answer


def extract_answer(completion: Any) -> Extraction:
    r"""The final answer of a question-answering completion.

    The answer is the content of the last ``<answer>...</answer>`` tag (source "answer_tag",
    ``blocks`` = how many tags), else the last non-empty line (source "trailing").  Reasoning is
    removed first as for :func:`extract_sql`, and so are citations (every ``<citations>`` tag and
    every line starting with "Citations:", see :func:`extract_citations`).  Markdown is stripped (bold/italic markers,
    backticks, leading ``#``/``-``/``*``/``>`` bullets), as is a preamble such as "Answer:" or
    "The answer is" and one sentence-ending period; whitespace is collapsed.  The ``sql`` field of
    the returned :class:`Extraction` holds the answer text; an empty answer gives ``sql=None``
    and an error.

    >>> extract_answer("Counting rows... <answer> **42** </answer>")
    Extraction(sql='42', source='answer_tag', blocks=1, error=None)
    >>> extract_answer("I checked both tables.\nThe answer is 42.").sql
    '42'
    >>> extract_answer("- **Final answer:** `Paris`").sql
    'Paris'
    >>> extract_answer("<answer>  </answer>").error
    'the <answer> tag is empty'
    >>> extract_answer("The answer is 42.\nCitations: ecommerce-net-revenue").sql
    '42'
    """
    text, cut_off = _strip_reasoning(completion_text(completion))
    try:
        text = _without_citations(text)
        tags = list(_ANSWER.finditer(text))
        if tags:
            answer = _clean_answer(tags[-1].group(1))
            return Extraction(answer or None, "answer_tag", len(tags), None if answer else "the <answer> tag is empty")
        opener = _ANSWER_OPEN.search(text)
        if opener:
            answer = _clean_answer(text[opener.end():])
            error = "the <answer> tag is never closed (a truncated completion?)"
            return Extraction(answer or None, "answer_tag", 1, error if answer else "the <answer> tag is empty and never closed")
        for line in reversed(text.splitlines()):
            answer = _clean_answer(line)
            if answer:
                return Extraction(answer, "trailing", 0, None)
    except Exception as error:  # noqa: BLE001 - never take a training run down over one completion
        return Extraction(None, None, 0, f"internal error while extracting the answer: {type(error).__name__}: {error}")
    return Extraction(None, None, 0, NO_ANSWER + (_UNCLOSED_THINK_NOTE if cut_off else ""))
