"""MkDocs hook: include sections of README.md in pages, so the README stays the one source of truth.

A line ``<!-- README: ## Heading -->`` in a page is replaced by the body of that README section
(everything after the heading line, up to the next heading of the same or a higher level; headings
inside fenced code blocks do not count). A missing section fails the build. Links in the section to
the README's own anchors (``[Usage](#usage)``) are rewritten to the docs page that covers them
(``README_ANCHORS``); an anchor not listed there fails the build.

After rendering, Sphinx roles left in docstrings (``:class:`X```) are shown as plain code, and the
``::`` that opens a reStructuredText literal block (the code block itself renders) becomes ``:``.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path
from typing import Any

from mkdocs.exceptions import PluginError

README = Path(__file__).resolve().parents[2] / "README.md"

#: README anchors used by included sections -> the docs page (from the docs root) that covers them.
README_ANCHORS = {
    "usage": "getting-started.md",
    "c-accelerator": "results.md",
}

_DIRECTIVE = re.compile(r"^<!-- README: (#{1,6}) (.+?) -->$", re.MULTILINE)
_FENCE = re.compile(r"^(```|~~~)")
_LOCAL_LINK = re.compile(r"\]\(#([^)]+)\)")
_ROLE = re.compile(r":(?:py:)?(?:class|func|meth|mod|data|attr|exc|obj):(<code>)~?")


def readme_section(level: str, title: str) -> str:
    lines = README.read_text(encoding="utf-8").splitlines()
    in_fence = False
    start: int | None = None
    for number, line in enumerate(lines):
        if _FENCE.match(line):
            in_fence = not in_fence
            continue
        if in_fence or not line.startswith("#"):
            continue
        hashes = len(line) - len(line.lstrip("#"))
        if start is None:
            if line == f"{level} {title}":
                start = number + 1
        elif hashes <= len(level):
            return "\n".join(lines[start:number]).strip("\n")
    if start is None:
        raise PluginError(f"README.md has no section '{level} {title}'")
    return "\n".join(lines[start:]).strip("\n")


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    page_dir = posixpath.dirname(page.file.src_uri)

    def link(match: re.Match[str]) -> str:
        anchor = match.group(1)
        if anchor not in README_ANCHORS:
            raise PluginError(f"README anchor #{anchor} has no docs page in README_ANCHORS")
        return f"]({posixpath.relpath(README_ANCHORS[anchor], page_dir or '.')})"

    def include(match: re.Match[str]) -> str:
        return _LOCAL_LINK.sub(link, readme_section(match.group(1), match.group(2)))

    return _DIRECTIVE.sub(include, markdown)


def on_page_content(html: str, page: Any, config: Any, files: Any) -> str:
    return _ROLE.sub(r"\1", html).replace("<p>::</p>\n", "").replace("::</p>", ":</p>")
