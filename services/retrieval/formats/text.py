"""Plain text, where structure is a matter of convention: blank lines between paragraphs, titles on a line
of their own (often in capitals), "-", "•" or "1." before list items, pipe tables, and short lines that
belong apart (opening hours, an address). PDF text is read through here too, after its lines are joined
into paragraphs.
"""

from __future__ import annotations

import re
from itertools import count

from services.retrieval.blocks import HEADING, LIST_ITEM, PARAGRAPH, TABLE_ROW, Element, clean, looks_like_heading

# Bullets, "1." or "1)", and lower-case "a)" or "a." (an upper-case "J." is an initial: "J. Smith runs the shop").
LIST_MARKER = re.compile(r"^\s{0,8}(?:[-*•‣◦▪●○■□–]|\(?\d{1,3}[.)]|\(?[a-z][.)])\s+")
_NUMBERED_TITLE = re.compile(r"^\s{0,3}(?:\d{1,2}(?:\.\d{1,2})*\.?|[IVX]{1,5}\.)\s+(?=[A-Z])")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(?:\|\s*:?-{2,}:?\s*)*\|?\s*$")
_SHORT_LINE = 60


def _cells(line: str) -> tuple[str, ...]:
    return tuple(cell.strip() for cell in line.strip().strip("|").split("|"))


def _is_table_line(line: str) -> bool:
    stripped = line.strip()
    return stripped.startswith("|") and stripped.count("|") >= 2


def _heading_level(line: str, first_in_document: bool) -> int:
    letters = [character for character in line if character.isalpha()]
    if first_in_document:
        return 1
    return 2 if letters and all(character.isupper() for character in letters) else 3


def _is_line_list(lines: list[str]) -> bool:
    """Short lines that each start afresh (hours, an address, a price per line), not a wrapped paragraph."""
    return (
        len(lines) > 1
        and all(len(line) <= _SHORT_LINE for line in lines)
        and all(line[0].isupper() or line[0].isdigit() for line in lines[1:])
        and not any(line.endswith((",", " and", " or", " the", " a", " to", " of")) for line in lines[:-1])
    )


class _TextReader:
    def __init__(self) -> None:
        self.elements: list[Element] = []
        self.groups = count(1)
        self.list_group = 0

    def paragraph(self, lines: list[str]) -> None:
        first = lines[0].strip()
        marked = next((n for n, line in enumerate(lines) if n and LIST_MARKER.match(line)), 0)
        if marked and not LIST_MARKER.match(first):
            # "Bring:" then "- a photo ID" on the next line: the text before a list introduces it.
            self.paragraph(lines[:marked])
            self.list_items(lines[marked:])
            return
        if LIST_MARKER.match(first) and not self._numbered_title(lines):
            self.list_items(lines)
            return
        self.list_group = 0
        if self._numbered_title(lines):
            self.add(Element(HEADING, _NUMBERED_TITLE.sub("", first), level=2))
            return
        if _is_table_line(first):
            self.table(lines)
            return
        if looks_like_heading(first) and not first.endswith((":", "?")) and self._title_line(lines):
            self.add(Element(HEADING, first, level=_heading_level(first, not self.elements)))
            lines = lines[1:]
            if not lines:
                return
            if LIST_MARKER.match(lines[0]):
                self.list_items(lines)
                return
        if _is_line_list(lines):
            group = next(self.groups)
            for line in lines:
                self.add(Element(LIST_ITEM, line, group=group))
        else:
            self.add(Element(PARAGRAPH, " ".join(lines)))

    @staticmethod
    def _title_line(lines: list[str]) -> bool:
        """The first line stands alone as a title: nothing follows it, it is in capitals, or the next line starts
        afresh (a wrapped sentence goes on in lower case) and the lines are not a list of short lines."""
        if len(lines) == 1 or lines[0].isupper():
            return True
        return lines[1][:1].isupper() and not _is_line_list(lines)

    @staticmethod
    def _numbered_title(lines: list[str]) -> bool:
        """"2. Borrowing limits" alone on its line: a numbered section title, not a list item."""
        first = lines[0].strip()
        return len(lines) == 1 and bool(_NUMBERED_TITLE.match(first)) and looks_like_heading(_NUMBERED_TITLE.sub("", first))

    def list_items(self, lines: list[str]) -> None:
        """Marked items; an unmarked line continues the item above it. A list goes on across blank lines."""
        if not self.list_group:
            self.list_group = next(self.groups)
        item: list[str] = []
        for line in lines:
            if LIST_MARKER.match(line):
                if item:
                    self.add(Element(LIST_ITEM, " ".join(item), group=self.list_group))
                item = [LIST_MARKER.sub("", line)]
            else:
                item.append(line.strip())
        if item:
            self.add(Element(LIST_ITEM, " ".join(item), group=self.list_group))

    def table(self, lines: list[str]) -> None:
        group, header = next(self.groups), ()
        rows = [line for line in lines if _is_table_line(line) or _TABLE_RULE.match(line)]
        for position, line in enumerate(rows):
            if _TABLE_RULE.match(line):
                continue
            if position + 1 < len(rows) and _TABLE_RULE.match(rows[position + 1]) and not header:
                header = _cells(line)
                continue
            self.add(Element(TABLE_ROW, "", cells=_cells(line), header=header, group=group))

    def add(self, element: Element) -> None:
        self.elements.append(element)


def text_elements(text: str) -> list[Element]:
    reader = _TextReader()
    for raw in re.split(r"\n[ \t]*\n", text):
        lines = [line.rstrip() for line in raw.split("\n") if line.strip()]
        if lines:
            reader.paragraph([clean(line) if not LIST_MARKER.match(line) else line for line in lines])
    return reader.elements
