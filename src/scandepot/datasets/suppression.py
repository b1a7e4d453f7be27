"""Small-cell suppression of the aggregates the public sees (docs/catalogue.md#suppression).

*Primary*: a count of people from 1 to ``below - 1`` is shown as ``"<5"`` (for
``below`` 5). *Complementary*: a distribution whose cells add up to a total that is shown
(each subject in exactly one cell, "unknown" included: sex, age, a subject-level clinical
variable) would give a lone hidden cell away by subtraction. There, further cells are
hidden, smallest first, and shown as ``"suppressed"`` (a count of ``below`` or more, hidden
for its neighbour's sake), until no hidden small cell can be worked out exactly from the
total, the shown cells and what the two labels say (``"<5"``: 1 to 4; ``"suppressed"``: 5
or more). When even hiding every cell would not do, the distribution is withheld whole.
Where the cells may overlap (a subject with MR and CT counts in both) the hidden cells hold
at least the subjects the shown ones leave out, which can pin a lone small cell too (8 of
12 shown: the other holds 4 or more, so "<5" is 4): the same rule runs with that bound.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

Count = int | str
SUPPRESSED = "suppressed"


def small(count: int, below: int) -> Count:
    """``count`` as shown: ``"<below"`` when it is 1 to ``below - 1``."""
    return f"<{below}" if 0 < count < below else count


def partition(
    cells: Sequence[tuple[str, int]], total: int, below: int, *, overlapping: bool = False
) -> list[Count] | None:
    """What to show for each of ``cells`` (value, count), whose counts add up to
    ``total`` (shown, unless it is small itself); ``None``: withhold the distribution.

    ``overlapping``: a subject may count in several cells, so the cells add up to
    ``total`` or more, and the hidden ones to at least what the shown ones leave."""
    shown: list[Count] = [small(n, below) for _, n in cells]
    if total < below or below <= 2:
        # A small total is hidden itself, so nothing can be subtracted from it; "<2" says
        # 1 by itself, so a site that sets 2 has chosen to show it.
        return shown
    while _derivable(shown, total, below, overlapping=overlapping):
        open_cells = [i for i, s in enumerate(shown) if isinstance(s, int)]
        if not open_cells:
            return None
        smallest = min(open_cells, key=lambda i: (cells[i][1], i))
        shown[smallest] = SUPPRESSED
    return shown


def _derivable(shown: list[Count], total: int, below: int, *, overlapping: bool) -> bool:
    """Whether some cell shown as small has one possible value, given the total, the cells
    shown and the bounds each label gives."""
    hidden = total - sum(s for s in shown if isinstance(s, int))
    bounds = [_bounds(s, below) for s in shown if not isinstance(s, int)]
    for index, (low, high) in enumerate(bounds):
        if high == math.inf:  # a "suppressed" cell is not small: its own value may show
            continue
        others_low = sum(b[0] for j, b in enumerate(bounds) if j != index)
        others_high = sum(b[1] for j, b in enumerate(bounds) if j != index)
        least = max(low, hidden - others_high)
        most = high if overlapping else min(high, hidden - others_low)
        if least == most:
            return True
    return False


def _bounds(label: Count, below: int) -> tuple[float, float]:
    if label == SUPPRESSED:
        return float(below), math.inf
    return 1.0, float(below - 1)
