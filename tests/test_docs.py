"""The docs describe the product as it is: a README a newcomer reads in one screen, every page it links to present,
and no page narrating how the project got here (that is what commits, notes and CHANGELOG.md are for)."""

from __future__ import annotations

import re

import pytest

from tests.helpers import ROOT

PAGES = sorted([ROOT / "README.md", ROOT / "config" / "README.md", *(ROOT / "docs").glob("*.md")])
# History told in the docs: working sessions, rounds of work, internal task numbers, "before this change"
NARRATION = re.compile(
    r"\b(this|that|previous|next|earlier|later|first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth)"
    r" session\b|\bsessions?'s?\b|\bissue #?\d+|\bround of work\b|\bworking day\b|\bat the start of the (day|session)"
    r"|\bbefore (this|the) change\b|\bafter the changes below\b",
    re.IGNORECASE,
)


def test_the_readme_is_a_product_page():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 300, f"README.md has {len(lines)} lines; the reference belongs in docs/"
    first_screen = "\n".join(lines[:25])
    assert "bash scripts/setup.sh && .venv/bin/snakemake --cores 2" in first_screen
    assert "bash scripts/setup.sh && .venv/bin/python -m pytest" in first_screen


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_page_narrates_history(page):
    found = [
        f"{i}: {line.strip()}" for i, line in enumerate(page.read_text().splitlines(), 1) if NARRATION.search(line)
    ]
    assert not found, found


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_of_a_page_exists(page):
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text())
    missing = [link for link in links if "://" not in link and not (page.parent / link).exists()]
    assert not missing, missing


def test_the_narration_check_catches_narration(tmp_path):
    for text in (
        "Measured in the eighth session: 40 s.",
        "As issue 18 asked, the ratio",
        "the code at the start of the day",
    ):
        assert NARRATION.search(text), text
    assert not NARRATION.search("A session of MLflow runs; the issue tracker; a round trip through DVC.")
