"""PDF, read with pypdf in its layout mode: text comes as visual lines that keep their horizontal position
and the blank space between paragraphs. Lines are joined back into paragraphs, list items and titles,
aligned columns become table rows, running headers, footers and page numbers are dropped, and the result
is read as plain text."""

from __future__ import annotations

import io
import re
from collections import Counter

from pypdf import PdfReader
from pypdf.errors import FileNotDecryptedError

from services.retrieval.blocks import Element, looks_like_heading
from services.retrieval.formats.text import LIST_MARKER, text_elements

_COLUMN_GAP = re.compile(r" {3,}")
_PAGE_NUMBER = re.compile(r"^(?:page\s+)?\d{1,4}(?:\s*(?:/|of)\s*\d{1,4})?$", re.IGNORECASE)
_DIGITS = re.compile(r"\d+")
_SENTENCE_END = (".", "!", "?", ":", ";")
# A line this much shorter than the page's full lines ends its paragraph when it ends a sentence.
_SHORT_LINE_RATIO = 0.8
# Lines at the top or bottom of this many pages or more are running headers or footers.
_RUNNING_LINE_PAGES = 2


class PdfUnreadableError(ValueError):
    """The PDF cannot be read; the message says why, for the person who uploaded it."""


def _page_lines(data: bytes) -> list[list[str]]:
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise PdfUnreadableError("PDF is encrypted with a password: upload an unprotected copy")
        pages = [page.extract_text(extraction_mode="layout") or "" for page in reader.pages]
    except FileNotDecryptedError as exc:
        raise PdfUnreadableError("PDF is encrypted with a password: upload an unprotected copy") from exc
    except PdfUnreadableError:
        raise
    # pypdf surfaces malformed files as many exception types (NotImplementedError for an unknown filter among
    # them); each means this one document is unreadable.
    except Exception as exc:
        raise PdfUnreadableError(f"corrupt or unreadable PDF: {exc}") from exc
    if not any(page.strip() for page in pages):
        raise PdfUnreadableError("PDF has no extractable text (is it a scanned image?)")
    return [[line.rstrip() for line in page.splitlines()] for page in pages]


def _without_running_lines(pages: list[list[str]]) -> list[list[str]]:
    """Drop page numbers and the header and footer lines repeated at the top or bottom of pages."""
    def key(line: str) -> str:
        return _DIGITS.sub("#", " ".join(line.split()))

    edges: Counter[str] = Counter()
    for lines in pages:
        text = [line for line in lines if line.strip()]
        edges.update({key(line) for line in text[:2] + text[-2:]})
    running = {line for line, seen in edges.items() if seen >= _RUNNING_LINE_PAGES} if len(pages) > 1 else set()
    return [
        [line for line in lines if not _PAGE_NUMBER.match(line.strip()) and (not line.strip() or key(line) not in running)]
        for lines in pages
    ]


def _columns(line: str) -> list[str]:
    return _COLUMN_GAP.split(line.strip())


def _table(lines: list[str]) -> list[str] | None:
    """Aligned columns on consecutive lines, as pipe-table lines (the first row is the header when it has no
    figures in it); None when the lines are not a table."""
    rows = [_columns(line) for line in lines]
    if len(rows) < 2 or len({len(row) for row in rows}) != 1 or len(rows[0]) < 2:
        return None
    header_first = not any(character.isdigit() for character in "".join(rows[0]))
    table = [f"| {' | '.join(row)} |" for row in rows]
    if header_first:
        table.insert(1, "|" + "---|" * len(rows[0]))
    return table


def _starts_block(line: str, previous: str, full_width: int) -> bool:
    if LIST_MARKER.match(line):
        return True
    ended = previous.endswith(_SENTENCE_END)
    if ended and looks_like_heading(line):
        return True
    if looks_like_heading(previous) and not previous.endswith(("-", ",")) and line[:1].isupper():
        return len(previous) < _SHORT_LINE_RATIO * full_width
    return ended and len(previous) < _SHORT_LINE_RATIO * full_width


def _paragraphs(lines: list[str], full_width: int) -> list[str]:
    """Lines between blank lines, split where a list item, a title or a new paragraph visibly starts."""
    blocks: list[list[str]] = []
    for raw in lines:
        line = " ".join(raw.split())
        if blocks and not _starts_block(line, blocks[-1][-1], full_width):
            blocks[-1].append(line)
        else:
            blocks.append([line])
    return [" ".join(block) for block in blocks]


def pdf_text(data: bytes) -> str:
    """The PDF's text with one blank line between paragraphs, titles, list items and tables."""
    lines = [line for page in _without_running_lines(_page_lines(data)) for line in page]
    widths = sorted(len(" ".join(line.split())) for line in lines if line.strip())
    full_width = widths[int(len(widths) * 0.9)] if widths else 0
    runs: list[list[str]] = [[]]
    for line in lines:
        if line.strip():
            runs[-1].append(line)
        elif runs[-1]:
            runs.append([])
    parts: list[str] = []
    for run in runs:
        if not run:
            continue
        table = _table(run)
        parts.extend(["\n".join(table)] if table else _paragraphs(run, full_width))
    return "\n\n".join(parts)


def pdf_elements(data: bytes) -> list[Element]:
    return text_elements(pdf_text(data))
