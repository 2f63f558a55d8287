"""Markdown, read with markdown-it-py (CommonMark plus tables): headings, lists, tables and code as they are
marked up, rather than guessed from the text."""

from __future__ import annotations

from itertools import count

from markdown_it import MarkdownIt
from markdown_it.token import Token

from services.retrieval.blocks import CODE, HEADING, LIST_ITEM, PARAGRAPH, TABLE_ROW, Element
from services.retrieval.formats.html import html_elements

_PARSER = MarkdownIt("commonmark").enable("table")


def _inline_text(token: Token) -> str:
    """The words of an inline token: link text and image alt text kept, markup and raw HTML dropped."""
    parts: list[str] = []
    for child in token.children or ():
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
        elif child.type == "image":
            parts.append(child.content)
        elif child.type == "html_inline" and child.content.lower().startswith("<br"):
            parts.append(" ")
    return "".join(parts)


def markdown_elements(markdown: str) -> list[Element]:
    tokens = _PARSER.parse(markdown)
    elements: list[Element] = []
    groups = count(1)
    lists: list[int] = []
    header: tuple[str, ...] = ()
    table_group = 0
    row: list[str] = []
    in_head = False
    for position, token in enumerate(tokens):
        kind = token.type
        if kind in ("bullet_list_open", "ordered_list_open"):
            lists.append(next(groups))
        elif kind in ("bullet_list_close", "ordered_list_close"):
            lists.pop()
        elif kind == "table_open":
            header, table_group = (), next(groups)
        elif kind in ("thead_open", "thead_close"):
            in_head = kind == "thead_open"
        elif kind == "tr_open":
            row = []
        elif kind == "tr_close":
            if in_head:
                header = tuple(row)
            else:
                elements.append(Element(TABLE_ROW, "", cells=tuple(row), header=header, group=table_group))
        elif kind in ("fence", "code_block"):
            elements.append(Element(CODE, token.content))
        elif kind == "html_block":
            elements.extend(html_elements(token.content, groups))
        elif kind == "inline":
            opener = tokens[position - 1].type
            text = _inline_text(token)
            if opener == "heading_open":
                elements.append(Element(HEADING, text, level=int(tokens[position - 1].tag[1])))
            elif opener in ("th_open", "td_open"):
                row.append(text)
            elif lists:
                elements.append(Element(LIST_ITEM, text, group=lists[-1]))
            else:
                elements.append(Element(PARAGRAPH, text))
    return elements
