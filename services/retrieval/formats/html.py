"""HTML, read with the standard library's tokenizing parser into headings, paragraphs, lists, tables,
FAQ questions (<dt>, <summary>) and code (<pre>).

Browsers forgive unclosed tags, so this reader does too: a tag's end closes
whatever was opened inside it, and a new <li>, <p>, <tr> or cell closes an
open one of the same kind. Lines separated by <br> (opening hours, an
address) are kept apart as the items of a small list.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from itertools import count

from services.retrieval.blocks import CODE, HEADING, LIST_ITEM, PARAGRAPH, QUESTION, SECTION_END, TABLE_ROW, Element, clean

_SKIPPED = {"script", "style", "head", "noscript", "template", "svg", "nav", "iframe", "object", "button", "select", "canvas"}
_VOID = {"br", "hr", "img", "input", "meta", "link", "wbr", "area", "base", "col", "embed", "source", "track"}
_HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}
# Tags whose text becomes one element; other tags (<span>, <a>, <strong>...) only carry text along.
_CONTAINERS = {
    *_HEADINGS, "p", "div", "section", "article", "header", "footer", "main", "aside", "blockquote", "address",
    "figure", "figcaption", "li", "dt", "dd", "summary", "details", "pre", "td", "th", "caption", "form", "label",
    "ul", "ol", "dl", "table", "thead", "tbody", "tfoot", "tr", "body", "html",
}
# Opening one of these closes an open one of these kinds that was never closed ("<li>one<li>two").
_IMPLICIT_CLOSE = {
    "li": ("li",), "p": ("p",), "dt": ("dt", "dd"), "dd": ("dt", "dd"),
    "td": ("td", "th"), "th": ("td", "th"), "tr": ("tr", "td", "th"),
}
# The containers that decide what their text is; text in any other container belongs to the nearest of these.
_MEANINGFUL = {*_HEADINGS, "li", "dt", "dd", "summary", "pre", "td", "th", "caption"}
# Tags that can only be in the body: one of them ends a head whose `</head>` was left out.
_BODY_STARTS = {"body", *_HEADINGS, "p", "div", "section", "article", "main", "header", "footer", "ul", "ol", "table", "dl"}
# Deeper than this, content is flattened into its container instead of opening new ones.
_MAX_DEPTH = 200


@dataclass
class _Table:
    group: int
    header: tuple[str, ...] = ()
    row: list[str] = field(default_factory=list)
    row_is_header: bool = True
    cell: list[str] = field(default_factory=list)


class _HtmlReader(HTMLParser):
    def __init__(self, groups: count) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[Element] = []
        self.text: list[str] = []
        self.open: list[str] = []
        # The skipped element being passed over (<nav>, <script>...) and how deeply it nests in itself.
        self.skipping = ""
        self.skip_depth = 0
        self.groups = groups
        self.lists: list[int] = []
        self.tables: list[_Table] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.skipping == "head" and tag in _BODY_STARTS:
            # `</head>` may be left out: the body's first element ends the head.
            self.skipping, self.skip_depth = "", 0
        if self.skipping:
            self.skip_depth += tag == self.skipping
            return
        if tag in _SKIPPED:
            self.skipping, self.skip_depth = tag, 1
            return
        if tag == "br":
            self.text.append("\n")
            return
        if tag not in _CONTAINERS:
            return
        if len(self.open) >= _MAX_DEPTH or (self._in_cell() and tag not in ("table", "tr", "td", "th")):
            self.text.append(" ")
            return
        if self.open and self.open[-1] in _IMPLICIT_CLOSE.get(tag, ()):
            self._close("tr" if tag == "tr" and "tr" in self.open else self.open[-1])
        self._flush()
        self.open.append(tag)
        if tag in ("ul", "ol"):
            self.lists.append(next(self.groups))
        elif tag == "table":
            self.tables.append(_Table(next(self.groups)))
        elif tag == "tr" and self.tables:
            self.tables[-1].row, self.tables[-1].row_is_header = [], True

    def handle_endtag(self, tag: str) -> None:
        if self.skipping:
            self.skip_depth -= tag == self.skipping
            # An element skipped but never closed ends with the page at the latest.
            if not self.skip_depth or tag in ("body", "html"):
                self.skipping, self.skip_depth = "", 0
            return
        if self._in_cell() and tag not in ("table", "tr", "td", "th", "thead", "tbody", "tfoot"):
            return  # a tag inside a cell was taken as inline text, so its end closes nothing
        if tag in self.open:
            self._close(tag)

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.text.append(data)

    def _in_cell(self) -> bool:
        return bool(self.open) and self._container() in ("td", "th")

    def _container(self) -> str:
        for tag in reversed(self.open):
            if tag in _MEANINGFUL or tag in ("ul", "ol", "table", "tr"):
                return tag
        return "body"

    def _close(self, tag: str) -> None:
        """Close `tag` and everything opened inside it."""
        while self.open:
            closing = self.open[-1]
            self._flush()
            self.open.pop()
            if closing in ("ul", "ol") and self.lists:
                self.lists.pop()
            elif closing == "table" and self.tables:
                self.tables.pop()
            elif closing == "tr" and self.tables:
                self._end_row(self.tables[-1])
            elif closing in ("details", "dl"):
                self.elements.append(Element(SECTION_END, ""))
            elif closing in ("td", "th") and self.tables:
                table = self.tables[-1]
                table.row.append(clean(" ".join(table.cell)))
                table.row_is_header = table.row_is_header and closing == "th"
                table.cell = []
            if closing == tag:
                return

    def _end_row(self, table: _Table) -> None:
        if any(table.row):
            if table.row_is_header and not table.header:
                table.header = tuple(table.row)
            else:
                self.elements.append(Element(TABLE_ROW, "", cells=tuple(table.row), header=table.header, group=table.group))
        table.row = []

    def _flush(self) -> None:
        """Turn the text gathered so far into an element of the innermost meaningful container's kind."""
        raw = "".join(self.text)
        self.text = []
        container = self._container()
        if container in ("td", "th") and self.tables:
            self.tables[-1].cell.append(raw.replace("\n", ", "))
            return
        if container == "pre":
            if raw.strip():
                self.elements.append(Element(CODE, raw))
            return
        lines = [clean(line) for line in raw.split("\n") if clean(line)]
        if not lines:
            return
        if container in _HEADINGS:
            self.elements.append(Element(HEADING, " ".join(lines), level=int(container[1])))
        elif container == "caption":
            self.elements.append(Element(PARAGRAPH, " ".join(lines) + ":"))
        elif container in ("dt", "summary"):
            self.elements.append(Element(QUESTION, " ".join(lines)))
        elif container == "li" and self.lists:
            self.elements.append(Element(LIST_ITEM, " ".join(lines), group=self.lists[-1]))
        elif len(lines) > 1:
            group = next(self.groups)
            self.elements.extend(Element(LIST_ITEM, line, group=group) for line in lines)
        else:
            self.elements.append(Element(PARAGRAPH, lines[0]))

    def finish(self) -> list[Element]:
        self.close()
        if self.open:
            self._close(self.open[0])
        self._flush()
        return self.elements


def html_elements(html: str, groups: count | None = None) -> list[Element]:
    """`groups` numbers lists and tables; a document that embeds HTML (Markdown) passes its own, so the
    numbers never clash."""
    reader = _HtmlReader(groups or count(1))
    reader.feed(html)
    return reader.finish()
