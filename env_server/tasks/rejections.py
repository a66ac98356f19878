"""Why candidate tasks were not kept: a tally of reasons that the generators fill and the build prints.

Every generator (``debug``, ``analyst``, ``repair`` ``tasks_for_db``) takes an optional
:class:`Rejections`. A candidate that cannot become a task (its gold query fails on the database, its
result is empty, a quality rule rejects it, a template raises) is skipped and its reason counted, so one
awkward table never stops a build and the summary can say why a family fell short of its count.

Reasons are categories, not messages: :func:`reason` drops task ids, numbers and quoted text, so
``gold SQL of task debug-x-r0-top_n fails on database variant 0: syntax: near "Order"`` and the same
error on another task count as one reason.

>>> r = Rejections()
>>> r.add('gold SQL of task debug-x-r0-top_n fails on database variant 0: syntax: near "Order"')
>>> r.add('gold SQL of task debug-y-r1-filter fails on database variant 2: syntax: near "Group"')
>>> r.most_common()
[('gold SQL of task … fails on database variant N: syntax: near …', 2)]
"""
from __future__ import annotations

import re
from collections import Counter

__all__ = ["Rejections", "reason"]

_TASK_ID = re.compile(r"\btask [A-Za-z0-9_]+(?:-[A-Za-z0-9_+.]+)+")
_QUOTED = re.compile(r"\"[^\"]*\"|'[^']*'|`[^`]*`|\[[^\]]*\]")
_NUMBER = re.compile(r"(?<![A-Za-z_])-?\d+(\.\d+)?(?![A-Za-z_])")
_MAX_CHARS = 160


def reason(problem: object) -> str:
    """``problem`` (a message or an exception) as a reason category: task ids, quoted text and numbers
    replaced, whitespace collapsed, at most 160 characters."""
    text = f"{type(problem).__name__}: {problem}" if isinstance(problem, BaseException) else str(problem)
    text = _TASK_ID.sub("task …", text)
    text = _QUOTED.sub("…", text)
    text = _NUMBER.sub("N", text)
    text = " ".join(text.split())
    return text if len(text) <= _MAX_CHARS else text[: _MAX_CHARS - 1] + "…"


class Rejections(Counter):
    """Counts of rejection reasons (a ``Counter`` keyed by :func:`reason`)."""

    def add(self, problem: object) -> None:
        """Count one rejected candidate under :func:`reason` of ``problem``."""
        self[reason(problem)] += 1

    def lines(self, top: int = 5) -> list[str]:
        """The ``top`` most common reasons, one ``"N× reason"`` line each."""
        return [f"{n}× {why}" for why, n in self.most_common(top)]
