"""The aggregates of a version, computed from its manifest over a real archived cohort."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from scandepot.catalog.datasets import Dataset, DatasetVersion
from scandepot.context import Context
from tests.datasets import published
from tests.datasets.conftest import Cohort


def stored(ctx: Context, stable_id: str) -> dict[str, Any]:
    with ctx.db.read() as db:
        found = db.scalar(
            select(DatasetVersion.aggregates)
            .join(Dataset, Dataset.id == DatasetVersion.dataset_id)
            .where(Dataset.stable_id == stable_id)
        )
    assert found is not None, stable_id
    return dict(found)


def by_value(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["value"]: {k: v for k, v in r.items() if k != "value"} for r in rows}


def test_the_aggregates_of_a_cohort(ctx: Context, cohort: Cohort) -> None:
    """One publication (a cohort takes seconds to archive), every part of its figures."""
    stable_id, _ = published.publish(ctx, cohort.session_ids)
    a = stored(ctx, stable_id)
    counts_and_imaging(a)
    sex_and_age_in_bins_with_complementary_suppression(a)
    clinical_variables_as_distributions_never_text_or_dates(a, cohort)
    search_terms_from_metadata_and_figures(a)


def counts_and_imaging(a: dict[str, Any]) -> None:
    assert a["counts"] == {"subjects": 12, "sessions": 13, "series": 13, "instances": 38}
    # The CT session is one subject's: "<5". Shown as 12 of 12, MR would leave no room
    # for doubt only if no subject had both; one may, but the count is hidden all the same.
    assert a["modalities"] == {
        "withheld": False,
        "values": ["MR", "CT"],
        "bins": [{"value": "MR", "subjects": 12}, {"value": "CT", "subjects": "<5"}],
    }
    for key, value in (("body_parts", "BRAIN"), ("manufacturers", "SYNTHETIC")):
        assert a[key]["bins"] == [{"value": value, "subjects": 12}], key
    assert a["field_strengths"]["bins"] == [{"value": "3 T", "subjects": 12}]
    assert a["suppress_below"] == 5


def sex_and_age_in_bins_with_complementary_suppression(a: dict[str, Any]) -> None:
    assert a["sex"] == {
        "withheld": False,
        "bins": [{"value": "female", "subjects": 7}, {"value": "male", "subjects": 5}],
    }
    # 70-79 holds one subject: "<5". With 6 and 5 shown it would be 12 - 11 = 1, so the
    # others are hidden too ("suppressed": 5 or more), until it cannot be worked out.
    assert a["age"] == {
        "withheld": False,
        "bins": [
            {"value": "30–39", "subjects": "suppressed"},
            {"value": "40–49", "subjects": "suppressed"},
            {"value": "70–79", "subjects": "<5"},
        ],
    }


def clinical_variables_as_distributions_never_text_or_dates(
    a: dict[str, Any], cohort: Cohort
) -> None:
    shown = {c["name"]: c for c in a["clinical"]}
    assert set(shown) == {"diagnosis", "weight"}  # no free text, identifying text or date
    assert shown["diagnosis"]["bins"] == [
        {"value": "AD", "subjects": 6},
        {"value": "HC", "subjects": 6},
    ]
    weight = shown["weight"]
    assert weight["unit"] == "kg" and weight["kind"] == "numbers"
    assert sum(b["subjects"] for b in weight["bins"] if isinstance(b["subjects"], int)) <= 12
    # The tails are folded until each holds five subjects or more: no edge names an extreme.
    first, last = weight["bins"][0], weight["bins"][-1]
    assert first["value"].startswith("< ") and first["subjects"] >= 5
    assert last["value"].startswith("≥ ") and last["subjects"] >= 5
    text = json.dumps(a, ensure_ascii=False)
    for secret in cohort.secrets:
        assert secret not in text, secret


def search_terms_from_metadata_and_figures(a: dict[str, Any]) -> None:
    terms = a["search"].strip("|").split("|")
    assert {t for t in terms if not t.startswith("w:")} == {
        "k:mri",
        "k:neurodevelopment",
        "m:CT",
        "m:MR",
        "b:BRAIN",
    }
    assert {"w:developing", "w:brain", "w:cohort", "w:healthy"} <= set(terms)


def test_small_datasets_and_the_site_threshold(ctx: Context, cohort: Cohort) -> None:
    stable_id, _ = published.publish(ctx, cohort.session_ids[:3])
    a = stored(ctx, stable_id)
    assert a["counts"] == {"subjects": "<5", "sessions": "<5", "series": "<5", "instances": "<5"}
    every = [r for key in ("modalities", "body_parts", "sex", "age") for r in a[key]["bins"]]
    assert every and all(v == "<5" for r in every for k, v in r.items() if k != "value")

    stable_id, _ = published.publish(ctx, cohort.session_ids, name="strict", suppress_below=8)
    a = stored(ctx, stable_id)
    assert a["suppress_below"] == 8
    assert a["sex"]["bins"] == [
        {"value": "female", "subjects": "<8"},
        {"value": "male", "subjects": "<8"},
    ]
