"""docs/security.md pins each line of its actors' (trust) table to tests: every test it names
(`test_file.py::test_name`, or `::test_name` after a named file) must exist, so that a renamed or
deleted test cannot leave a line of the trust model unpinned."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def named_tests(text: str) -> list[tuple[str | None, str]]:
    """(file, test) for every reference in `text`, in order; `::name` takes the last file named
    (None before any)."""
    found: list[tuple[str | None, str]] = []
    current: str | None = None
    for token in re.findall(r"`([^`]*)`", text):
        match = re.fullmatch(r"(test_\w+\.py)?::(test_\w+)", token)
        if match:
            current = match.group(1) or current
            found.append((current, match.group(2)))
    return found


def test_named_tests__are_read_with_the_last_file_named():
    assert named_tests("`a` `test_x.py::test_one`, `::test_two` `test_y.py::test_three`") == [
        ("test_x.py", "test_one"), ("test_x.py", "test_two"), ("test_y.py", "test_three")]


def test_every_test_the_security_doc_names__exists():
    references = named_tests((ROOT / "docs" / "security.md").read_text(encoding="utf-8"))
    assert len(references) > 40
    missing = []
    for file, name in references:
        sources = [p.read_text(encoding="utf-8") for p in (ROOT / "tests").rglob(str(file))]
        if not any(re.search(rf"^def {name}\(", src, re.MULTILINE) for src in sources):
            missing.append(f"{file}::{name}")
    assert missing == [], f"docs/security.md names tests that do not exist: {missing}"
