"""Small-cell suppression: no small count is shown, and none can be worked out from the
total and the cells shown, whatever the cells (checked against every assignment of
values the labels allow)."""

from __future__ import annotations

import itertools
import random

import pytest

from scandepot.datasets.suppression import SUPPRESSED, Count, partition, small


def possible_values(
    shown: list[Count], total: int, below: int, *, overlapping: bool = False
) -> list[set[int]]:
    """For each cell, every value it can have given the labels and the total (which the
    cells add up to, or, overlapping, reach or pass; no cell passes it)."""
    ranges = []
    for label in shown:
        if isinstance(label, int):
            ranges.append(range(label, label + 1))
        elif label == SUPPRESSED:
            ranges.append(range(below, total + 1))
        else:
            ranges.append(range(1, below))
    found: list[set[int]] = [set() for _ in shown]
    for values in itertools.product(*ranges):
        if sum(values) == total or (overlapping and sum(values) > total):
            for cell, value in zip(found, values, strict=True):
                cell.add(value)
    return found


def test_small_counts_read_as_less_than_the_threshold() -> None:
    assert [small(n, 5) for n in (0, 1, 4, 5, 120)] == [0, "<5", "<5", 5, 120]
    assert small(3, 10) == "<10"


def test_a_lone_small_cell_takes_its_neighbour_along() -> None:
    # Shown as 120 and "<5" out of 123, the small one would be 3.
    assert partition([("female", 120), ("male", 3)], 123, 5) == [SUPPRESSED, "<5"]
    assert partition([("a", 50), ("b", 2), ("c", 3)], 55, 5) == [50, "<5", "<5"]


def test_two_small_cells_that_the_total_pins_take_a_third() -> None:
    # 1 and 1 out of 52 with 50 shown: the two must both be 1.
    assert partition([("a", 50), ("b", 1), ("c", 1)], 52, 5) == [SUPPRESSED, "<5", "<5"]


def test_what_no_hiding_can_protect_is_withheld() -> None:
    # 5 and 1 out of 6: "suppressed" says 5 or more, so the other is 1 whatever is hidden.
    assert partition([("a", 5), ("b", 1)], 6, 5) is None


def test_overlapping_cells_bound_what_is_hidden_from_below() -> None:
    # A subject may be in both, so 8 shown of 12 leaves "4 or more" to the other: "<5"
    # would say 4. Hiding the 8 too leaves nothing to subtract.
    assert partition([("MR", 8), ("CT", 4)], 12, 5, overlapping=True) == [SUPPRESSED, "<5"]
    assert partition([("MR", 12), ("CT", 1)], 12, 5, overlapping=True) == [12, "<5"]


def test_a_small_total_hides_everything_with_it() -> None:
    assert partition([("a", 3), ("b", 1)], 4, 5) == ["<5", "<5"]


@pytest.mark.parametrize("seed", range(300))
def test_no_small_cell_is_ever_derivable(seed: int) -> None:
    rng = random.Random(seed)
    below = rng.choice((3, 5, 6))
    cells = [(f"c{i}", rng.choice((1, 1, 2, 3, 4, 5, 6, 9, 14))) for i in range(rng.randint(2, 4))]
    total = sum(n for _, n in cells)
    shown = partition(cells, total, below)
    if shown is None:
        return  # withheld whole
    assert all(not isinstance(s, int) or s == 0 or s >= below for s in shown)
    if total < below:
        return  # the total is hidden itself
    for (_, true), label, values in zip(
        cells, shown, possible_values(shown, total, below), strict=True
    ):
        assert true in values
        if not isinstance(label, int) and label != SUPPRESSED:
            assert len(values) >= 2, (cells, shown)


@pytest.mark.parametrize("seed", range(300))
def test_no_small_cell_is_derivable_where_cells_overlap(seed: int) -> None:
    rng = random.Random(seed)
    below = rng.choice((3, 5))
    cells = [(f"c{i}", rng.choice((1, 2, 3, 4, 5, 7, 10))) for i in range(rng.randint(2, 3))]
    biggest, everyone = max(n for _, n in cells), sum(n for _, n in cells)
    total = rng.randint(biggest, everyone)  # subjects, some in several cells
    shown = partition(cells, total, below, overlapping=total != everyone)
    if shown is None or total < below:
        return
    possible = possible_values(shown, total, below, overlapping=total != everyone)
    for (_, true), label, values in zip(cells, shown, possible, strict=True):
        assert true in values
        if not isinstance(label, int) and label != SUPPRESSED:
            assert len(values) >= 2, (cells, total, shown)
