"""Typed answers for the analyst and grounded families: read what the agent submitted and check it.

A question-answering task has a typed gold answer: the result rows of its gold SQL query, read by
:func:`gold_value` as an ``int``, a ``float``, a ``str`` or a set of strings.  The agent submits
``answer``, any JSON value (a string, a number, a list...), and :func:`check_answer` reads it as
the same type and compares.  Agents are trained by RL on this score, so the rules are built to give
nothing for hedging: an answer that lists several candidates for a one-value question is
*sprayed* and scores 0, and a set answer is scored by F1, so listing everything costs precision.

Cleaning (every type)
    Markdown is stripped (``**bold**``, ``*italic*``, backticks, code-fence lines, a leading
    ``#``, ``>``, bullet ``- ``/``* ``/``+ ``/``•`` or numbering ``1. ``/``1) ``), as are
    surrounding quotes, a trailing period and a preamble: "The answer is", "Answer:",
    "Final answer:", "There are", "It is", "≈", "about", "The <a few words> is/are"...  Text is
    compared after :func:`normalise_text` (NFKC, casefold, whitespace collapsed).

``int``
    The text must hold exactly one number (a unit or noun around it is fine: "42 users",
    "$1,234", "12%").  ``1,234`` is 1234 (thousands separators), ``12.0`` is 12, a non-integral
    number is wrong.  Several distinct numbers ("42 or 43", "between 40 and 45", "40-45") is
    *sprayed*.  A JSON number is taken as is, a bool is rejected, a one-element list is read as
    its element and a longer list is sprayed.  Comparison is exact.

``float``
    Read as for ``int``, without the integrality rule.  What counts as equal is the task's
    ``tolerance``, and a question must state it in its text:

    * a :class:`Precision` (``{"decimals": 2}`` in a task file), for a question that says
      "rounded to 2 decimals": correct iff ``|answer - gold| <= 0.5 * 10**-decimals``, *absolute*,
      plus a hair of float slack (``max(1e-9, 8 ulp of the gold)``) so that an exactly rounded
      value passes.  Half a unit of the last decimal asked for: the gold rounded as asked passes, and
      so does the unrounded value the gold was rounded from, while one unit off in the last decimal
      (gold + 0.01 for 2 decimals) fails however large the gold.  A relative tolerance could not do
      this: 1e-4 is +-7.5 at 75,000, so "gold + 1.00" passed on a "2 decimals" question.  Every
      built-in float question (analyst templates, grounded metrics) states its decimals this way.
      At an exact tie (a true value of ``x.xx5``) an unrounded gold accepts either rounding; a gold
      rounded in SQL (``ROUND(x, 2)``) accepts its own rounding and the unrounded value.
    * a number (legacy task files), the *relative* tolerance ``rel_tol``: correct iff
      ``|answer - gold| <= max(rel_tol * |gold|, 1e-9, rounding)``; ``None`` means 1e-6.
      ``rounding`` allows for rounding to the precision written: ``0.5 * 10**-d`` for a number
      written with ``d >= 2`` decimals and at least 2 significant digits.  It applies to the
      answer ("3.14" for 3.14159 is right, "3" and "3.1" are not, and "0.00" says nothing about
      0.0012) and, symmetrically, to the gold as Python writes it (a gold of ``ROUND(x, 2)`` =
      3.14 accepts the unrounded 3.14159).  Such a question should say what precision counts
      ("within 0.1 %"); prefer a :class:`Precision`.

    A ``%`` sign changes nothing: the number is compared as written, in the unit the question asks for.

``string``
    Correct iff the normalised answer equals the normalised gold, with or without its preamble,
    or once generic words ("the", "category", "department", "region", "type", "plan",
    "status") are removed from its ends ("the Electronics category" for "Electronics").
    Otherwise, when it splits on newlines, ``,``, ``;``, ``/``, " or " or " and " into several
    parts it is sprayed; else it is wrong.  A gold such as "Smith and Sons" is matched whole first.

``set``
    A JSON list, or text with one item per line or items separated by ``;`` or ``,`` (split in
    that order; a final "and" is dropped; a line or part that is itself a gold member, such as
    "Smith, John", is not split further; a surrounding ``[...]`` and a heading line ending in
    ``:`` are dropped; the text is read with and without its preamble and the better read
    counts, so a member such as "It's a Wonderful Life" survives).  Items are normalised
    (``3.0`` reads as ``3``, ``1,234`` as ``1234``), duplicates collapse.  The score is the F1
    between the answer set and the gold set; it is correct only when they are equal.  An empty
    answer scores 0.

Anything else (``None``, ``""``, an object, text with no number for a number...) scores 0 with a
reason naming what was expected.  :func:`check_answer` never raises on a JSON-like answer; a bad
*gold* (or an unknown type) raises ``ValueError``, since a task fault must never become a silent 0.
Reasons never quote the gold: it is kept in :attr:`AnswerCheck.expected` for logs and tests.

Size: over 600 lines because typed-answer parsing (numbers, units, percentages, sets, preambles, spraying) is one decision that must live in one place.
"""
from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Literal, get_args

__all__ = [
    "ANSWER_TYPES",
    "GENERIC_WORDS",
    "AnswerCheck",
    "AnswerType",
    "Precision",
    "Tolerance",
    "check_answer",
    "gold_value",
    "normalise_text",
    "stated_precision",
]

AnswerType = Literal["int", "float", "string", "set"]
ANSWER_TYPES: tuple[str, ...] = get_args(AnswerType)

DEFAULT_REL_TOL = 1e-6
"""Relative tolerance of ``float`` answers when the task gives none."""
ABS_TOL = 1e-9
"""Absolute tolerance of ``float`` answers (for golds at or near 0)."""
MAX_ANSWER_CHARS = 50_000
"""Longer text answers score 0 unread (bounds the work one answer can cost)."""
MAX_SET_ITEMS = 10_000
"""Longer list answers score 0 unread."""
GENERIC_WORDS = frozenset({"category", "the", "department", "region", "type", "plan", "status"})
"""Words a string answer may carry at its ends around the gold ("the Electronics category")."""

MAX_DECIMALS = 12
"""Most decimals a :class:`Precision` may ask for (beyond that a float cannot tell them apart)."""


@dataclass(frozen=True)
class Precision:
    """The precision a question states for a ``float`` answer: ``decimals`` digits after the point.

    An answer counts when it lies within half a unit of that last decimal of the gold, absolutely
    (see the module docstring): ``Precision(2)`` admits ``|answer - gold| <= 0.005``.  The question
    text must say it, in the words :meth:`phrase` gives ("rounded to 2 decimals"), which
    :func:`stated_precision` reads back.  Why absolute and why half a unit: the question fixes the
    answer's precision, so the grade must neither ask for more (an unrounded value, or the gold's
    own rounding, passes) nor accept less (one unit off in the last decimal fails at any
    magnitude, which a relative tolerance cannot promise).  In a task file it is written
    ``"tolerance": {"decimals": 2}``, in ``data/metrics.toml`` ``decimals = 2``.

    >>> Precision(2).half_unit, Precision(2).phrase, Precision(0).phrase
    (Decimal('0.005'), 'rounded to 2 decimals', 'rounded to a whole number')
    """

    decimals: int

    def __post_init__(self) -> None:
        if isinstance(self.decimals, bool) or not isinstance(self.decimals, int) or not 0 <= self.decimals <= MAX_DECIMALS:
            raise ValueError(f"decimals must be a whole number from 0 to {MAX_DECIMALS}, got {self.decimals!r}")

    @property
    def half_unit(self) -> Decimal:
        """Half a unit of the last decimal: what an answer may differ from the gold by."""
        return Decimal(5).scaleb(-self.decimals - 1)

    @property
    def phrase(self) -> str:
        """How a question states it: "rounded to 2 decimals", "rounded to 1 decimal"."""
        if self.decimals == 0:
            return "rounded to a whole number"
        return f"rounded to {self.decimals} decimal{'s' if self.decimals != 1 else ''}"

    def admits(self, answer: Decimal, gold: float) -> bool:
        """Whether ``answer`` is within half a unit of the last decimal of ``gold`` (plus float slack)."""
        slack = Decimal(max(ABS_TOL, 8 * math.ulp(gold)))  # the float noise a computed gold may carry
        return abs(answer - Decimal(repr(gold))) <= self.half_unit + slack


Tolerance = Precision | float | None
"""A task's ``tolerance``: the :class:`Precision` its question states, a legacy relative tolerance, or
``None`` (relative 1e-6)."""

_STATED = re.compile(r"\brounded to (?:(?P<n>\d{1,2}) decimals?|(?P<whole>a whole number))\b", re.IGNORECASE)


def stated_precision(question: str) -> Precision | None:
    """The :class:`Precision` a question's text states ("rounded to 2 decimals"), or ``None`` when it
    states none or several different ones.

    >>> stated_precision("What is the average price? Answer with a number rounded to 2 decimals.")
    Precision(decimals=2)
    >>> stated_precision("What is the average price?") is None
    True
    """
    found = {0 if m.group("whole") else int(m.group("n")) for m in _STATED.finditer(question)}
    if len(found) != 1:
        return None
    (decimals,) = found
    return Precision(decimals) if decimals <= MAX_DECIMALS else None


_EXPECTED = {
    "int": "a whole number",
    "float": "a number",
    "string": "a text value",
    "set": "a list of values",
}


@dataclass(frozen=True)
class AnswerCheck:
    """The verdict on one answer."""

    correct: bool
    score: float
    """1.0 when correct; for sets the F1 against the gold set (1.0 only when exact); else 0.0."""
    parsed: object
    """What the answer was read as (int, float, str, sorted list of str), or None."""
    expected: object
    """The gold in the same form (for logs and tests; never shown to the agent)."""
    reason: str
    """One human-readable sentence; it never quotes the gold."""
    sprayed: bool = False
    """The answer listed several candidates for a one-value question."""


# --------------------------------------------------------------------------- text cleaning

_FENCE_LINE = re.compile(r"^\s*(?:```|~~~)[\w+.-]*\s*$")
_LINE_MARK = re.compile(r"^\s*(?:#{1,6}\s+|>\s*|[-*+\u2022\u2023\u25e6\u2043]\s+|\d{1,3}[.)]\s+(?=\S))")
_EMPHASIS = (
    re.compile(r"\*\*(?=\S)([^*\n]+?)(?<=\S)\*\*"),
    re.compile(r"__(?=\S)([^_\n]+?)(?<=\S)__"),
    re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])"),
    re.compile(r"(?<![\w_])_(?=[^\s_])([^_\n]+?)(?<=\S)_(?![\w_])"),
)
_QUOTES = {'"': '"', "'": "'", "\u201c": "\u201d", "\u2018": "\u2019", "\u00ab": "\u00bb", "`": "`"}
_PREAMBLE = re.compile(
    r"^(?:"
    r"(?:so|thus|therefore|hence)\b[,:]?\s*"
    r"|(?:my\s+|the\s+)?(?:final\s+|correct\s+)?(?:answer|result)\b(?:\s+is\b)?\s*[:=\u2013\u2014-]?\s*"
    r"|there\s+(?:are|is|were|was)\b\s*"
    r"|it\s+(?:is|was)\b\s*"
    r"|it['\u2019]s\s+"
    r"|(?:\u2248|~|about\b|approximately\b|approx\.|roughly\b|around\b)\s*"
    r"|the\s+(?:[\w-]+\s+){0,6}?(?:is|are|was|were)\b\s*:?\s*"
    r")",
    re.IGNORECASE,
)
_DECIMAL_TEXT = re.compile(r"[-+]?(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.[0-9]+)?")


def _strip_markup(text: str) -> str:
    """Text without code-fence lines, line markers (headings, bullets, numbering) or emphasis."""
    lines = []
    for line in text.splitlines():
        if _FENCE_LINE.match(line):
            continue
        previous = None
        while previous != line:
            previous, line = line, _LINE_MARK.sub("", line, count=1)
        lines.append(line)
    text = "\n".join(lines)
    for pattern in _EMPHASIS:
        text = pattern.sub(r"\1", text)
    return re.sub(r"\*{2,}|`+", "", text)


def _strip_ends(text: str) -> str:
    """Text without surrounding quotes or a trailing period (repeatedly)."""
    previous = None
    while previous != text:
        previous = text = text.strip()
        if len(text) >= 2 and _QUOTES.get(text[0]) == text[-1]:
            text = text[1:-1]
        elif text.endswith(".") and not text.endswith(".."):
            text = text[:-1]
    return text


def _strip_preamble(text: str) -> str:
    """Text without leading "The answer is" / "There are" / "≈"-style words (repeatedly)."""
    for _ in range(8):
        stripped = _strip_ends(_PREAMBLE.sub("", text.lstrip(), count=1))
        if stripped == text:
            break
        text = stripped
    return text


def _float_text(value: float) -> str:
    if math.isfinite(value) and value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    return f"{value:.9g}"  # 9 significant digits, as the query grader's canonical rows


def _int_text(value: int) -> str:
    return str(value) if abs(value) < 10**4000 else str(Decimal(value))  # no int->str digit limit


def normalise_text(value: object) -> str:
    """The comparable form of a text value: NFKC, markdown, surrounding quotes and a trailing
    period stripped, casefolded, whitespace collapsed; numbers written canonically.

    >>> normalise_text('  **"Smith  and Sons".** ')
    'smith and sons'
    >>> normalise_text("- `Électronique`")
    'électronique'
    >>> normalise_text(3.0), normalise_text("3.50"), normalise_text("1,234"), normalise_text(None)
    ('3', '3.5', '1234', '')
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return _int_text(value)
    if isinstance(value, float):
        return _float_text(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        text = bytes(value).decode("utf-8", errors="replace")
    else:
        text = value if isinstance(value, str) else str(value)
    text = unicodedata.normalize("NFKC", text)
    for _ in range(8):  # until stable, so that normalise_text is idempotent
        previous = text
        text = _strip_ends(" ".join(_strip_markup(text).split())).casefold()
        if text == previous:
            break
    if len(text) < 64 and _DECIMAL_TEXT.fullmatch(text):
        plain = text.replace(",", "")
        text = _float_text(float(plain)) if "." in plain else plain
    return text


# --------------------------------------------------------------------------- numbers

_NUMBER = re.compile(
    r"(?:(?<![\w.])(?P<sign>[-+\u2212]))?(?<![\w.])"
    r"(?P<digits>[0-9]{1,3}(?:,[0-9]{3})+(?![0-9])(?:\.[0-9]+)?|[0-9]+(?:\.[0-9]+)?|\.[0-9]+)"
    r"(?:[eE](?P<exp>[-+]?[0-9]{1,9}))?"
    r"(?![0-9]|[^\W\d_])"  # not glued to letters: "3rd", "5k", "42users" are not plain numbers
)


def _numbers(text: str) -> list[Decimal]:
    """The distinct numbers written in `text`, in order of first appearance."""
    found: list[Decimal] = []
    seen: set[Decimal] = set()
    for match in _NUMBER.finditer(text):
        sign = "-" if match.group("sign") in ("-", "\u2212") else ""
        literal = sign + match.group("digits").replace(",", "")
        if match.group("exp"):
            literal += "e" + match.group("exp")
        try:
            number = Decimal(literal)
        except (InvalidOperation, ValueError):  # pragma: no cover - the pattern only matches numerals
            continue
        if number not in seen:
            seen.add(number)
            found.append(number)
    return found


def _decimals(number: Decimal) -> int:
    """Digits written after the decimal point ("3.14" -> 2, "1.5e3" -> -2)."""
    exponent = number.as_tuple().exponent
    return -exponent if isinstance(exponent, int) else 0


def _significant(number: Decimal) -> int:
    """Significant digits written ("0.050" -> 2, "0.00" -> 0)."""
    return 0 if number.is_zero() else len(number.as_tuple().digits)


def _rounding(number: Decimal) -> float:
    """Half a unit of the last decimal written, when the number carries that precision (else 0)."""
    d = _decimals(number)
    if d < 2 or _significant(number) < 2 or d > 300:
        return 0.0
    return 0.5 * 10.0**-d


def _show(number: Decimal) -> str:
    if number.is_finite() and number.adjusted() < 30 and number == number.to_integral_value():
        return str(int(number))
    text = str(number)
    return text if len(text) <= 40 else f"{number:.6e}"


def _describe(value: object) -> str:
    """A short description of an answer for a reason sentence."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, str):
        if not value.strip():
            return "an empty string"
        text = " ".join(value.split())
        return repr(text if len(text) <= 60 else text[:57] + "...")
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, (list, tuple)):
        return "an empty list" if not value else f"a list of {len(value)} item{'s' if len(value) != 1 else ''}"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, int):
        return _int_text(value) if abs(value) < 10**60 else "a huge number"
    return f"a {type(value).__name__}"


# --------------------------------------------------------------------------- gold


def _gold_number(value: object, answer_type: str) -> Decimal:
    """A finite numeric gold as a Decimal; ValueError otherwise."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"a {answer_type} gold must be a number, got {value!r}")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"a {answer_type} gold must be finite, got {value!r}")
        return Decimal(repr(value))
    if isinstance(value, str) and _DECIMAL_TEXT.fullmatch(value.strip()):
        return Decimal(value.strip().replace(",", ""))
    raise ValueError(f"a {answer_type} gold must be a number, got {type(value).__name__} {value!r}")


def _gold_int(value: object) -> int:
    number = _gold_number(value, "int")
    if number != number.to_integral_value():
        raise ValueError(f"an int gold must be a whole number, got {value!r}")
    return int(number)


def _gold_float(value: object) -> float:
    result = float(_gold_number(value, "float"))
    if not math.isfinite(result):
        raise ValueError(f"a float gold must be finite, got {value!r}")
    return result


def _gold_text(value: object) -> str:
    if value is None or isinstance(value, (bool, Mapping, list, tuple, set, frozenset)):
        raise ValueError(f"a string gold must be text or a number, got {value!r}")
    text = normalise_text(value)
    if not text:
        raise ValueError(f"a string gold is empty once normalised: {value!r}")
    return text


def _gold_set(values: object) -> frozenset[str]:
    if isinstance(values, (str, bytes, Mapping)) or not isinstance(values, Iterable):
        raise ValueError(f"a set gold must be a collection of values, got {type(values).__name__}")  # noqa: TRY004
    members = frozenset(_gold_text(v) for v in values)
    if not members:
        raise ValueError("a set gold is empty: the question has no answer to give")
    return members


def _check_type(answer_type: object) -> None:
    if answer_type not in ANSWER_TYPES:
        raise ValueError(f"unknown answer type {answer_type!r}; expected one of {', '.join(ANSWER_TYPES)}")


def gold_value(rows: Sequence[Sequence[object]], answer_type: AnswerType) -> object:
    """The gold answer of a task from its gold query's result rows.

    ``int``/``float``/``string`` need exactly one row of one non-NULL value and give an ``int``,
    a ``float`` or the normalised ``str``; ``set`` needs one column and at least one row and gives
    a ``frozenset`` of normalised strings.  A wrong shape, a NULL or a value of the wrong kind
    raises ``ValueError``.

    >>> gold_value([(42,)], "int"), gold_value([(3.0,)], "int"), gold_value([(2.5,)], "float")
    (42, 3, 2.5)
    >>> gold_value([("Electronics",)], "string")
    'electronics'
    >>> sorted(gold_value([("Bob",), ("alice",), (3.0,)], "set"))
    ['3', 'alice', 'bob']
    >>> gold_value([(1,), (2,)], "int")
    Traceback (most recent call last):
    ...
    ValueError: an int gold needs a 1x1 result; got 2 rows
    """
    _check_type(answer_type)
    if isinstance(rows, (str, bytes)) or not isinstance(rows, Iterable):
        raise ValueError(f"gold rows must be a list of rows, got {type(rows).__name__}")  # noqa: TRY004
    values = []
    for index, row in enumerate(rows):
        if isinstance(row, (str, bytes)) or not isinstance(row, Sequence):
            raise ValueError(f"gold row {index} is not a row: {row!r}")  # noqa: TRY004
        if len(row) != 1:
            raise ValueError(f"a {answer_type} gold needs one column; row {index} has {len(row)}")
        if row[0] is None:
            raise ValueError(f"gold row {index} is NULL")
        values.append(row[0])
    if answer_type == "set":
        return _gold_set(values)
    if len(values) != 1:
        article = "an" if answer_type == "int" else "a"
        raise ValueError(f"{article} {answer_type} gold needs a 1x1 result; got {len(values)} rows")
    if answer_type == "int":
        return _gold_int(values[0])
    if answer_type == "float":
        return _gold_float(values[0])
    return _gold_text(values[0])


# --------------------------------------------------------------------------- answers


@dataclass(frozen=True)
class _Read:
    """An answer read as one scalar: text, a JSON number, or why neither."""

    text: str | None = None  # the text, or a JSON number written as text
    number: Decimal | None = None  # a JSON number
    problem: str | None = None  # unparseable: what was found instead
    candidates: tuple[str, ...] = ()  # sprayed: the candidates listed


def _read_scalar(answer: object) -> _Read:
    """Unwrap one-element lists; reject what cannot hold one value."""
    while isinstance(answer, (list, tuple)):
        if len(answer) == 1:
            answer = answer[0]
        elif not answer:
            return _Read(problem="an empty list")
        else:
            items = [normalise_text(a) if not isinstance(a, (list, tuple, Mapping)) else _describe(a) for a in answer]
            return _Read(candidates=tuple(items))
    if answer is None or isinstance(answer, (bool, Mapping)):
        return _Read(problem=_describe(answer))
    if isinstance(answer, int):
        return _Read(text=normalise_text(answer), number=Decimal(answer))
    if isinstance(answer, float):
        if not math.isfinite(answer):
            return _Read(problem=f"{answer!r}, not a finite number")
        return _Read(text=normalise_text(answer), number=Decimal(repr(answer)))
    if isinstance(answer, str):
        if not answer.strip():
            return _Read(problem="an empty string")
        if len(answer) > MAX_ANSWER_CHARS:
            return _Read(problem=f"a text of {len(answer):,} characters (at most {MAX_ANSWER_CHARS:,})")
        return _Read(text=answer)
    return _Read(problem=_describe(answer))


def _sprayed(candidates: Sequence[str], what: str, expected: object) -> AnswerCheck:
    shown = ", ".join(c if len(c) <= 30 else c[:27] + "..." for c in candidates[:6])
    if len(candidates) > 6:
        shown += ", ..."
    reason = f"several candidates in a scalar answer ({len(candidates)} {what}): {shown}"
    return AnswerCheck(False, 0.0, None, expected, reason, sprayed=True)


def _unparseable(answer_type: str, found: str, expected: object) -> AnswerCheck:
    return AnswerCheck(False, 0.0, None, expected, f"expected {_EXPECTED[answer_type]}, got {found}")


def _read_number(answer: object, answer_type: str, expected: object) -> Decimal | AnswerCheck:
    """The one number an answer holds, or the verdict that it holds none or several."""
    read = _read_scalar(answer)
    if read.candidates:
        return _sprayed(read.candidates, "list items", expected)
    if read.problem is not None:
        return _unparseable(answer_type, read.problem, expected)
    if read.number is not None:
        return read.number
    assert read.text is not None
    numbers = _numbers(_strip_markup(unicodedata.normalize("NFKC", read.text)))
    if not numbers:
        return _unparseable(answer_type, f"{_describe(read.text)}, which holds no number", expected)
    if len(numbers) > 1:
        return _sprayed([_show(n) for n in numbers], "numbers", expected)
    return numbers[0]


def _check_int(answer: object, gold: int) -> AnswerCheck:
    number = _read_number(answer, "int", gold)
    if isinstance(number, AnswerCheck):
        return number
    integral = number.is_finite() and number == number.to_integral_value()
    if not integral:
        return AnswerCheck(False, 0.0, float(number), gold, f"wrong: {_show(number)} is not a whole number")
    parsed = int(number) if number.adjusted() < 5000 else None  # never build a gigantic int
    if number == Decimal(gold):
        return AnswerCheck(True, 1.0, parsed, gold, f"correct: {_show(number)}")
    return AnswerCheck(False, 0.0, parsed, gold, f"wrong: {_show(number)} is not the expected whole number")


def _check_float(answer: object, gold: float, tolerance: Precision | float) -> AnswerCheck:
    number = _read_number(answer, "float", gold)
    if isinstance(number, AnswerCheck):
        return number
    value = float(number)
    if not math.isfinite(value):
        return AnswerCheck(False, 0.0, value, gold, f"wrong: {_show(number)} is out of range")
    if isinstance(tolerance, Precision):
        if tolerance.admits(number, gold):
            return AnswerCheck(True, 1.0, value, gold, f"correct: {_show(number)}")
        return AnswerCheck(False, 0.0, value, gold, f"wrong: {_show(number)} is not the expected number "
                                                   f"{tolerance.phrase} (it may differ by at most {tolerance.half_unit})")
    allowance = max(_rounding(number), _rounding(Decimal(repr(gold))))
    close = math.isclose(value, gold, rel_tol=tolerance, abs_tol=ABS_TOL) or abs(value - gold) <= allowance * (1 + 1e-9)
    if close:
        return AnswerCheck(True, 1.0, value, gold, f"correct: {_show(number)}")
    return AnswerCheck(False, 0.0, value, gold, f"wrong: {_show(number)} is not within tolerance of the expected number")


_PARTS = re.compile(r"\n|[,;/]|\s+(?:or|and)\s+")


def _without_generic_words(text: str) -> str:
    words = text.split()
    while words and words[0] in GENERIC_WORDS:
        words.pop(0)
    while words and words[-1] in GENERIC_WORDS:
        words.pop()
    return " ".join(words)


def _check_string(answer: object, gold: str) -> AnswerCheck:
    read = _read_scalar(answer)
    if read.candidates:
        return _sprayed(read.candidates, "list items", gold)
    if read.problem is not None:
        return _unparseable("string", read.problem, gold)
    assert read.text is not None
    text = read.text
    raw = normalise_text(text)
    multiline = _strip_preamble(_strip_markup(unicodedata.normalize("NFKC", text)))  # lines kept
    plain = normalise_text(multiline) or raw
    for form in (raw, plain):
        if form == gold or _without_generic_words(form) == gold:
            return AnswerCheck(True, 1.0, gold, gold, f"correct: {_describe(form)}")
    parts = [p for p in (normalise_text(p) for p in _PARTS.split(multiline.casefold())) if p]
    if len(parts) > 1:
        return _sprayed(parts, "parts", gold)
    if not plain:
        return _unparseable("string", _describe(text), gold)
    return AnswerCheck(False, 0.0, plain, gold, f"wrong: {_describe(plain)} is not the expected value")


_SEPARATORS = (re.compile(r"\n"), re.compile(r";"), re.compile(r","), re.compile(r"(?:^|\s+)and\s+"))


def _split_items(text: str, gold: frozenset[str], level: int = 0) -> list[str]:
    """Items of a text list; a piece that is itself a gold member is not split further."""
    item = normalise_text(text)
    if item in gold or level == len(_SEPARATORS):
        return [item] if item else []
    pieces = _SEPARATORS[level].split(text)
    if level == 0 and len(pieces) > 1:  # a heading line such as "The customers are:"
        pieces = [p for p in pieces if not p.rstrip().endswith(":")] or pieces
    return [i for p in pieces for i in _split_items(p, gold, level + 1)]


def _text_items(text: str, gold: frozenset[str]) -> set[str]:
    """The items of a text answer, read with and without a preamble (the better read wins: a
    gold member may itself start like a preamble, e.g. "It's a Wonderful Life")."""
    text = _strip_markup(unicodedata.normalize("NFKC", text)).strip()
    reads = []
    for variant in dict.fromkeys((_strip_preamble(text), text)):
        if len(variant) >= 2 and variant[0] + variant[-1] in ("[]", "{}", "()"):
            variant = variant[1:-1]
        reads.append(set(_split_items(variant, gold)))
    return max(reads, key=lambda found: _f1(found, gold))


def _f1(items: set[str], gold: frozenset[str]) -> float:
    overlap = len(items & gold)
    if not overlap:
        return 0.0
    precision, recall = overlap / len(items), overlap / len(gold)
    return 2 * precision * recall / (precision + recall)


def _check_set(answer: object, gold: frozenset[str]) -> AnswerCheck:
    expected = sorted(gold)
    if answer is None or isinstance(answer, (bool, Mapping)):
        return _unparseable("set", _describe(answer), expected)
    if isinstance(answer, str) and len(answer) > MAX_ANSWER_CHARS:
        return _unparseable("set", f"a text of {len(answer):,} characters (at most {MAX_ANSWER_CHARS:,})", expected)
    if isinstance(answer, (list, tuple)) and len(answer) > MAX_SET_ITEMS:
        return _unparseable("set", f"a list of {len(answer):,} items (at most {MAX_SET_ITEMS:,})", expected)
    if isinstance(answer, (list, tuple)):
        items = {normalise_text(a) for a in answer} - {""}
    elif isinstance(answer, str):
        items = _text_items(answer, gold)
    elif isinstance(answer, (int, float)):
        items = {normalise_text(answer)} - {""}
    else:
        return _unparseable("set", _describe(answer), expected)
    if not items:
        found = _describe(answer)
        if isinstance(answer, str) and answer.strip():
            found += ", which holds no items"
        return _unparseable("set", found, expected)
    f1 = _f1(items, gold)
    parsed = sorted(items)
    if items == gold:
        return AnswerCheck(True, 1.0, parsed, expected, f"correct: all {len(items)} items")
    n = len(items)
    return AnswerCheck(False, round(f1, 6), parsed, expected,
                       f"wrong: {n} item{'s' if n != 1 else ''} given, F1 {f1:.2f} against the expected set")


def check_answer(
    answer: object, gold: object, answer_type: AnswerType, tolerance: Tolerance = None
) -> AnswerCheck:
    """Check an agent's ``answer`` (any JSON value) against ``gold`` (from :func:`gold_value`).

    The rules are in the module docstring.  ``tolerance`` says what counts as equal for ``float``
    answers: a :class:`Precision` (half a unit of its last decimal, absolute), or a legacy relative
    tolerance (default 1e-6); other types ignore it.  Never raises on the answer; a gold that does
    not fit ``answer_type``, an unknown type or a bad tolerance raises ``ValueError``.

    >>> check_answer("There are **1,234** users.", 1234, "int").correct
    True
    >>> r = check_answer("12 or 14", 12, "int")
    >>> r.score, r.sprayed, r.reason
    (0.0, True, 'several candidates in a scalar answer (2 numbers): 12, 14')
    >>> check_answer("3.14", 3.14159, "float").correct, check_answer("3", 3.14159, "float").correct
    (True, False)
    >>> two = Precision(2)  # the question says "rounded to 2 decimals"
    >>> [check_answer(a, 75000.12, "float", two).correct for a in ("75000.12", "75000.124", "75000.13", "75001.12")]
    [True, True, False, False]
    >>> check_answer("the Electronics category", "electronics", "string").correct
    True
    >>> r = check_answer("- alice\\n- bob\\n- carol", frozenset({"alice", "bob"}), "set")
    >>> r.correct, r.score, r.parsed
    (False, 0.8, ['alice', 'bob', 'carol'])
    >>> check_answer({"value": 3}, 3, "int").reason
    'expected a whole number, got an object'
    """
    _check_type(answer_type)
    if answer_type == "int":
        if isinstance(gold, float) and math.isfinite(gold) and gold.is_integer():
            gold = int(gold)
        if isinstance(gold, bool) or not isinstance(gold, int):
            raise ValueError(f"an int gold must be an int, got {gold!r}")
    elif answer_type == "float":
        gold = _gold_float(gold)
    elif answer_type == "string":
        gold = _gold_text(gold)
    else:
        gold = _gold_set(gold)
    rule = DEFAULT_REL_TOL if tolerance is None else tolerance
    if not isinstance(rule, Precision):
        if isinstance(rule, bool) or not (isinstance(rule, (int, float)) and math.isfinite(rule) and rule >= 0):
            raise ValueError(f"tolerance must be a Precision or a finite number >= 0, got {tolerance!r}")
        rule = float(rule)
    try:
        if answer_type == "int":
            return _check_int(answer, gold)  # type: ignore[arg-type]
        if answer_type == "float":
            return _check_float(answer, gold, rule)  # type: ignore[arg-type]
        if answer_type == "string":
            return _check_string(answer, gold)  # type: ignore[arg-type]
        return _check_set(answer, gold)  # type: ignore[arg-type]
    except Exception as error:  # noqa: BLE001 - one odd answer must not take a training run down
        expected = sorted(gold) if isinstance(gold, frozenset) else gold
        return AnswerCheck(False, 0.0, None, expected,
                           f"internal error while reading the answer: {type(error).__name__}: {error}")
