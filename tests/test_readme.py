"""The README renders as written: every code fence is closed, every local link resolves.

An unclosed fence turned half of the API section into code once; Markdown does not complain, it
just renders the rest of the file as a code block. markdown-it (CommonMark, the parser Rich
uses) gives each fence its source lines: a fence whose last line is not a closing fence ran to
the end of the document.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _unclosed_fences(text: str) -> list[int]:
    lines = text.splitlines()
    bad = []
    for tok in MarkdownIt("commonmark").parse(text):
        if tok.type != "fence" or tok.map is None:
            continue
        start, end = tok.map
        opener = lines[start].strip()
        fence = opener[:3]
        closer = lines[end - 1].strip() if end - 1 > start else ""
        if not closer.startswith(fence) or closer.strip(fence[0]):
            bad.append(start + 1)
    return bad


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_every_code_fence_is_closed(path: Path) -> None:
    assert _unclosed_fences(path.read_text()) == [], f"{path.name}: fence opened on these lines"


def test_the_check_catches_an_unclosed_fence() -> None:
    assert _unclosed_fences("# t\n\n```sh\nmake run\n\n## API\n\ntext\n") == [3]
    assert _unclosed_fences("```sh\nmake run\n```\n") == []


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_local_links_resolve(path: Path) -> None:
    text = path.read_text()
    missing = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if "://" in target or target.startswith(("#", "mailto:")):
            continue
        file = target.split("#", 1)[0]
        if file and not (path.parent / file).exists():
            missing.append(target)
    assert missing == [], f"{path.name} links to files that do not exist"


def test_the_quick_start_uses_the_virtualenv() -> None:
    """Examples call `confida`: the README must say how it is found (activate, or .venv/bin)."""
    text = (ROOT / "README.md").read_text()
    assert ". .venv/bin/activate" in text
