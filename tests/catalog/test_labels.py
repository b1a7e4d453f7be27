from __future__ import annotations

import pytest

from scandepot.catalog.labels import check_file_path, check_label
from scandepot.errors import Invalid


@pytest.mark.parametrize("label", ["P1", "sub-01", "ses_2024_01", "A" * 64, "0", "-", "_x"])
def test_valid_labels(label: str) -> None:
    assert check_label(label) == label


@pytest.mark.parametrize(
    "label",
    ["", "A" * 65, "a b", "a/b", "a.b", "ä", "a\x00", "..", "x\n", "é1", "tab\t", "a;b", 17, None],
)
def test_invalid_labels_name_the_field_and_rule(label: object) -> None:
    with pytest.raises(Invalid) as exc:
        check_label(label, field="subject")
    assert exc.value.field == "subject"
    assert "letters, digits, '-' and '_', at most 64 characters" in exc.value.message


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("a.dcm", "a.dcm"),
        ("dir/sub/a.dcm", "dir/sub/a.dcm"),
        ("T1 MPRAGE.nii.gz", "T1 MPRAGE.nii.gz"),
        (".hidden", ".hidden"),
        ("a..b", "a..b"),
        ("e\u0301.txt", "\u00e9.txt"),  # stored in NFC
    ],
)
def test_valid_paths(path: str, expected: str) -> None:
    assert check_file_path(path) == expected


@pytest.mark.parametrize(
    "path",
    [
        "",
        "/etc/passwd",
        "../x",
        "a/../../x",
        "a/./b",
        ".",
        "..",
        "a\\b",
        "..\\x",
        "a\x00b",
        "a\nb",
        "a//b",
        "a/",
        "x" * 256,
        "a/" * 600,
    ],
)
def test_invalid_paths(path: str) -> None:
    with pytest.raises(Invalid) as exc:
        check_file_path(path)
    assert exc.value.field == "path"
