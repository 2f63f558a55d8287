"""A document as typed blocks: the structure that decides what can be searched and what can be said.

Each format reader (markdown, HTML, plain text, PDF) turns its document into
a flat sequence of `Element`s in reading order: headings with their level,
paragraphs, list items, table rows with their header, code, and lines that
are explicitly questions (an HTML <dt> or <summary>, a "Q:" line). The
format-independent rules live here, once: the heading path each block
sits under, FAQ question→answer pairs (a question-like heading or line and
the content that follows it), lists with the sentence that introduces them,
run-in headings ("Returns. New bicycles can be returned...") and table rows
rewritten as self-contained statements that name their column headers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from itertools import count

from services.common.passages import CODE, FAQ, LIST_ITEM, PARAGRAPH, TABLE_ROW
from services.common.sentences import split_sentences

# Elements only: a heading becomes the path of the blocks under it, a question the question of a FAQ block, and
# the end of a section (an HTML <details> or <dl>) ends the answer of an open FAQ.
HEADING = "heading"
QUESTION = "question"
SECTION_END = "section_end"

_MAX_HEADING_WORDS = 14
# A FAQ question longer than this is not a question line but prose that happens to end in "?"; it would also be
# repeated in every chunk of its answer.
MAX_QUESTION_CHARS = 300
_RUN_IN_MAX_WORDS = 4
# First sentences that are answers, not run-in headings.
_NOT_RUN_IN = frozenset({"yes", "no", "ok", "okay", "sure", "note", "please", "thanks", "thank you", "sorry"})
_QUESTION_PREFIX = re.compile(r"^(?:q|question)\s*[:.)-]\s*", re.IGNORECASE)
_ANSWER_PREFIX = re.compile(r"^(?:a|answer)\s*[:.)-]\s*", re.IGNORECASE)


@dataclass(frozen=True)
class Element:
    """One structural piece of a document as a format reader found it."""

    kind: str
    text: str
    # Heading level, 1 (title) to 6.
    level: int = 0
    # Table rows: the row's cells and the header cells of its table (empty when the table has none).
    cells: tuple[str, ...] = ()
    header: tuple[str, ...] = ()
    # Items of one list, rows of one table, share a group number.
    group: int = 0


@dataclass(frozen=True)
class Block:
    """A searchable unit of content under its heading path."""

    kind: str
    # What may be said: a paragraph, a FAQ answer, one list item, a row statement; code is never said.
    text: str
    headings: tuple[str, ...] = ()
    # The FAQ question this block answers.
    question: str = ""
    group: int = 0


def clean(text: str) -> str:
    """One line of text with single spaces."""
    return " ".join(text.split())


def is_question(text: str) -> bool:
    text = text.strip()
    return text.endswith("?") and len(text.split()) <= 30


def row_statement(cells: tuple[str, ...], header: tuple[str, ...]) -> str:
    """A table row as a phrase that stands on its own: "Snowboard: half day $25, full day $40".

    The first cell names the row; every other cell is introduced by its column
    header, so the row still says what each value means once it is cut away
    from its table.
    """
    cells = tuple(clean(cell) for cell in cells)
    if not any(cells):
        return ""
    named = [(clean(title), value) for title, value in zip(header[1:], cells[1:]) if value] if header else []
    if not header or len(header) != len(cells):
        return ", ".join(cell for cell in cells if cell)
    first = cells[0] or clean(header[0])
    parts = [f"{_mid_sentence(title)} {value}" if title else value for title, value in named]
    return f"{first}: {', '.join(parts)}" if parts else first


def _mid_sentence(title: str) -> str:
    """A column header as it reads inside a sentence ("Full day" -> "full day", "ID" stays)."""
    if len(title) > 1 and title[0].isupper() and not title[1].isupper():
        return title[0].lower() + title[1:]
    return title


@dataclass
class _Assembler:
    blocks: list[Block] = field(default_factory=list)
    # Open headings: level, text, and how many blocks there were when it opened (to see if anything followed it).
    path: list[tuple[int, str, int]] = field(default_factory=list)
    # An open FAQ: its question and the answer parts gathered so far.
    question: str = ""
    answer: list[str] = field(default_factory=list)
    question_group: int = 0
    # A line that introduces what follows ("You will need:", "Hours:").
    lead: str = ""
    # The lead of each list or table, which becomes the last step of its heading path.
    group_leads: dict[int, str] = field(default_factory=dict)
    groups: count = field(default_factory=lambda: count(1))

    @property
    def headings(self) -> tuple[str, ...]:
        return tuple(text for _, text, _ in self.path)

    def add(self, element: Element) -> None:
        text = clean(element.text)
        if element.kind == HEADING:
            self.heading(text, element.level)
        elif element.kind == SECTION_END:
            self.close_faq()
        elif (element.kind == QUESTION or (element.kind == PARAGRAPH and _QUESTION_PREFIX.match(text))) and len(text) <= MAX_QUESTION_CHARS:
            self.open_faq(_QUESTION_PREFIX.sub("", text))
        elif element.kind == PARAGRAPH and is_question(text) and len(split_sentences(text)) == 1:
            # A question standing alone (a bold FAQ line, a line of a text file) opens a FAQ, closing any open one.
            self.open_faq(text)
        elif element.kind == CODE:
            self.close_faq()
            if element.text.strip():
                self.blocks.append(Block(CODE, element.text.strip("\n"), self.headings))
        elif self.question:
            part = row_statement(element.cells, element.header) if element.kind == TABLE_ROW else text
            part = _ANSWER_PREFIX.sub("", part)
            if part:
                self.answer.append(part if part[-1] in ".!?:;" else f"{part}.")
        elif element.kind == PARAGRAPH:
            self.paragraph(text)
        elif element.kind in (LIST_ITEM, TABLE_ROW):
            self.member(element, text)

    def heading(self, text: str, level: int) -> None:
        self.close_faq()
        level = max(1, level or 2)
        while self.path and self.path[-1][0] >= level:
            self.close_heading()
        if is_question(text) and len(text) <= MAX_QUESTION_CHARS:
            self.open_faq(text)
            return
        self.path.append((level, text, len(self.blocks)))

    def close_heading(self) -> None:
        """Close the innermost heading; one with nothing under it was a line of content, not a title ("Phone:
        555-0142" alone in a text file, the last line of a page), so it is kept as a paragraph."""
        _, text, blocks_before = self.path.pop()
        if len(self.blocks) == blocks_before:
            self.blocks.append(Block(PARAGRAPH, text, self.headings))

    def open_faq(self, question: str) -> None:
        self.close_faq()
        self.question, self.question_group = question, next(self.groups)

    def close_faq(self) -> None:
        self.lead = ""
        if self.question and self.answer:
            answer = " ".join(self.answer)
            self.blocks.append(Block(FAQ, answer, self.headings, question=self.question, group=self.question_group))
        # A question nobody answered is dropped: it says nothing, and must never be said.
        self.question, self.answer = "", []

    def paragraph(self, text: str) -> None:
        if not text:
            return
        # A paragraph introducing what follows ("Each card may have up to 50 items, with these limits:") is
        # content of its own and the context of the list or table after it.
        sentences = split_sentences(text)
        self.lead = sentences[-1].rstrip(":") if text.endswith(":") else ""
        headings = self.headings
        if len(sentences) > 1 and _is_run_in_heading(sentences[0]):
            headings, text = (*headings, sentences[0].rstrip(".:")), text[len(sentences[0]) :].strip()
        self.blocks.append(Block(PARAGRAPH, text, headings))

    def member(self, element: Element, text: str) -> None:
        """A list item or table row, under the lead of its list or table when it has one."""
        if element.group not in self.group_leads:
            self.group_leads[element.group] = self.lead
        self.lead = ""
        lead = self.group_leads[element.group]
        headings = (*self.headings, lead) if lead else self.headings
        if element.kind == TABLE_ROW:
            text = row_statement(element.cells, element.header)
        if text:
            self.blocks.append(Block(element.kind, text, headings, group=element.group))

    def finish(self) -> list[Block]:
        self.close_faq()
        while self.path:
            self.close_heading()
        return self.blocks


def _is_run_in_heading(sentence: str) -> bool:
    """"Returns." or "Warranty on repairs." opening a paragraph: a label, not something to say."""
    words = sentence.rstrip(".:").split()
    return (
        0 < len(words) <= _RUN_IN_MAX_WORDS
        and sentence[-1] in ".:"
        and ":" not in sentence[:-1]
        and words[0][:1].isupper()
        and not any(character.isdigit() for character in sentence)
        and sentence.rstrip(".:").lower() not in _NOT_RUN_IN
    )


def assemble(elements: list[Element]) -> list[Block]:
    """Blocks with their heading paths, FAQ pairs, list leads and row statements, in document order."""
    assembler = _Assembler()
    for element in elements:
        assembler.add(element)
    return assembler.finish()


def looks_like_heading(line: str) -> bool:
    """A short line without sentence punctuation: a title in plain text or PDF (not "Phone: 555-0142")."""
    words = line.split()
    return (
        0 < len(words) <= _MAX_HEADING_WORDS
        and line[-1] not in ".,;!"
        and ":" not in line[:-1]
        and any(c.isalpha() for c in line)
    )
