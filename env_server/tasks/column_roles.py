"""Column roles: what a numeric or text column of a real database *means*, from its name and its values.

A data engineer never sums a clock time, averages an identifier or totals the day of the month; the
profiler (:func:`env_server.tasks.gold_queries.profile`, in its strict mode for bring-your-own databases)
asks this module before it calls a numeric column a measure:

* **clock** — times of day stored as ``HHMM`` integers (``dep_time`` 517, 2359): every value in
  ``[0, 2400]`` with minutes ``< 60`` and some value past 99, or a clock-like name (``…_time``, ``hhmm``)
  with values that fit;
* **calendar** — calendar parts: a day of the month (1–31), a month (1–12), an hour (0–23), a weekday,
  a quarter, a week of the year or a year, each only under a name that says so and with values that fit;
* **identifier** — numbers that name rather than measure: an integer column whose every value is
  distinct (a flight number, an invoice number, a monotone sequence), or an identifier-like name
  (``…_no``, ``…number``, ``zip``, ``phone``, ``tailnum``);
* **timestamp** — epoch seconds (integers between 1973 and 2096 under a time-like name);
* otherwise a **measure**, *additive* (a sum means something: amounts, counts, distances) unless its
  name says it is a level or a ratio (a temperature, a rate, a percentage, a score, an age, a unit price):
  those are averaged, compared and ranked, never summed.

Text columns: :func:`timestamp_text` recognises ISO-8601 dates and timestamps with ``T`` or a space,
optional seconds and fractions, and ``Z`` or a ``±HH[:MM]`` offset; :func:`zoned` says whether a value
carries a zone (SQLite's date functions convert such values to UTC and return NULL for a bare ``+HH``,
so the generators read their dates *as written*, with ``substr``).
"""
from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["additive", "numeric_role", "timestamp_text", "zoned"]

_ISO = re.compile(
    r"^\d{4}-\d{2}-\d{2}"                    # the date
    r"(?:[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?"  # a time of day, seconds and fractions optional
    r"(?:Z|[+-]\d{2}(?::?\d{2})?)?$"         # a zone: Z, +HH, +HHMM, +HH:MM
)
_ZONE = re.compile(r"(?:Z|[+-]\d{2}(?::?\d{2})?)$")

_CLOCK_NAME = re.compile(r"(^|_)(time|hhmm|clock|dep|arr|departure|arrival)(_|$)|time$", re.IGNORECASE)
_NOT_CLOCK_NAME = re.compile(r"(air|flight|travel|run|play|wait|duration|elapsed|lead|cycle)_?time", re.IGNORECASE)
_CALENDAR: tuple[tuple[re.Pattern[str], int, int], ...] = (
    (re.compile(r"(^|_)(day|dom|day_of_month|mday)$", re.IGNORECASE), 1, 31),
    (re.compile(r"(^|_)(month|mon|mm)$", re.IGNORECASE), 1, 12),
    (re.compile(r"(^|_)(hour|hr|hh)$", re.IGNORECASE), 0, 23),
    (re.compile(r"(^|_)(minute|min)$", re.IGNORECASE), 0, 59),
    (re.compile(r"(^|_)(weekday|dow|day_of_week|wday)$", re.IGNORECASE), 0, 7),
    (re.compile(r"(^|_)(quarter|qtr)$", re.IGNORECASE), 1, 4),
    (re.compile(r"(^|_)(week|week_of_year|woy)$", re.IGNORECASE), 1, 53),
    (re.compile(r"(^|_)(year|yr|yyyy|fiscal_year)$|year$", re.IGNORECASE), 1000, 2999),
)
_ID_NAME = re.compile(
    r"(^|_)(no|nr|num|number|zip|zipcode|postcode|postal_code|phone|fax|tailnum|flight|isbn|ean|upc|sku|ssn)$"
    r"|[a-z0-9](No|Num|Number)$", re.IGNORECASE)
_EPOCH_NAME = re.compile(r"(^|_)(ts|epoch|timestamp|time|at|stamp|date|datetime|unix)$|(time|stamp)$", re.IGNORECASE)
_EPOCH_RANGE = (100_000_000, 4_000_000_000)
_NON_ADDITIVE = re.compile(
    r"(^|_)(temp|temperature|rate|ratio|pct|percent|percentage|share|avg|average|mean|median|score|rating|"
    r"rank|age|lat|latitude|lon|lng|longitude|humidity|pressure|speed|elevation|altitude|visib|visibility|"
    r"level|index|grade|gpa|unit_price|dewp)(_|$)", re.IGNORECASE)


def timestamp_text(value: str) -> bool:
    """Whether ``value`` is an ISO-8601 date or timestamp (``T`` or space, ``Z`` or an offset allowed)."""
    return bool(_ISO.match(value))


def zoned(value: str) -> bool:
    """Whether an ISO-8601 timestamp ends in a zone (``Z`` or an offset)."""
    return len(value) > 10 and bool(_ZONE.search(value))


def _hhmm(values: Sequence[int]) -> bool:
    return all(0 <= v <= 2400 and v % 100 < 60 for v in values) and max(values) > 99


def numeric_role(name: str, values: Sequence[int | float], distinct: int, rows: int) -> str | None:
    """``clock``, ``calendar``, ``identifier`` or ``timestamp`` for a numeric column that is not a measure,
    else ``None``. ``values`` are its non-NULL values (a sample), ``distinct`` how many differ, ``rows``
    how many were read.

    >>> numeric_role("dep_time", [517, 533, 542, 1159, 2359, 14, 600, 1730], 8, 8)
    'clock'
    >>> numeric_role("day", [1, 15, 31, 2, 3, 9, 12, 28], 8, 8), numeric_role("year", [2013] * 5 + [2014], 2, 6)
    ('calendar', 'calendar')
    >>> numeric_role("price", [5, 12, 31, 2, 3, 9, 12, 28], 7, 8) is None
    True
    """
    integers = all(isinstance(v, int) for v in values)
    if not values:
        return None
    if integers:
        for pattern, low, high in _CALENDAR:
            if pattern.search(name) and all(low <= v <= high for v in values):
                return "calendar"
        if _EPOCH_NAME.search(name) and all(_EPOCH_RANGE[0] <= v <= _EPOCH_RANGE[1] for v in values):
            return "timestamp"
        if not _NOT_CLOCK_NAME.search(name) and _hhmm(values) and (
                _CLOCK_NAME.search(name) or (distinct >= 20 and max(values) > 1200)):
            return "clock"
        if _ID_NAME.search(name) or (distinct == rows and rows >= 20 and _sequence(values)):
            return "identifier"
    elif _ID_NAME.search(name):
        return "identifier"
    return None


def _sequence(values: Sequence[int]) -> bool:
    """Whether distinct integers read as a numbering: they fill at least half of their range."""
    low, high = min(values), max(values)
    return high - low + 1 <= 2 * len(values)


def additive(name: str) -> bool:
    """Whether summing a measure called ``name`` means something (an amount, a count, a distance): not for
    levels and ratios (a temperature, a rate, a percentage, a score, an age, a unit price).

    >>> additive("amount"), additive("temp"), additive("unit_price"), additive("distance")
    (True, False, False, True)
    """
    return not _NON_ADDITIVE.search(name)
