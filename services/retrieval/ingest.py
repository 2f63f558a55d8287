"""Turning uploaded documents into chunks: typed blocks from each format, then chunks of one kind each.

Extraction errors are `DocumentError`s with a message meant for the person
who uploaded the file; one bad document never stops the rest of a batch.

A chunk holds blocks of one kind under one heading path (paragraphs, one FAQ
question with its answer, items of one list, rows of one table, or code),
so whoever reads a search hit knows what its text is: something to say,
a question to skip, or code never to speak. Chunks stay within the org's
`chunk_size`; a long run of paragraphs is cut at sentence ends with
`chunk_overlap` characters carried over, a FAQ answer too long for one chunk
repeats its question in every piece, and a table row always carries its
column headers.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from pathlib import PurePosixPath

from services.common.mentions import mentions
from services.common.sentences import split_sentences
from services.retrieval.blocks import CODE, FAQ, PARAGRAPH, Block, assemble
from services.retrieval.formats.html import html_elements
from services.retrieval.formats.markdown import markdown_elements
from services.retrieval.formats.pdf import PdfUnreadableError, pdf_elements
from services.retrieval.formats.text import text_elements

SUPPORTED_EXTENSIONS = (".txt", ".md", ".pdf", ".html", ".htm")
_MEDIA_TYPES = {
    "text/plain": ".txt",
    "text/markdown": ".md",
    "application/pdf": ".pdf",
    "text/html": ".html",
}
HEADING_SEPARATOR = " > "


class DocumentError(ValueError):
    """This document cannot be ingested; the message says why."""


@dataclass(frozen=True)
class Chunk:
    document: str
    position: int
    text: str
    # What the text is (services.common.passages: paragraph, faq, list_item, table_row, code), and so whether and
    # how it may be spoken; a heading is never a chunk of its own but the path of every block under it.
    kind: str = PARAGRAPH
    # The headings the text sits under, outermost first.
    headings: tuple[str, ...] = ()
    # The kinds of facts the text gives ("address location", "phone number": services.common.mentions).
    mentions: tuple[str, ...] = ()

    @property
    def chunk_id(self) -> str:
        return f"{self.document}#{self.position}"

    @property
    def indexed_text(self) -> str:
        """What is embedded and indexed: the heading path, the text, and what kinds of facts it gives."""
        parts = [HEADING_SEPARATOR.join(self.headings), self.text, " ".join(self.mentions)]
        return "\n".join(part for part in parts if part)

def document_kind(name: str, media_type: str = "") -> str:
    """The extension that decides how a document is read, from its MIME type or its name."""
    if media_type:
        kind = _MEDIA_TYPES.get(media_type.split(";")[0].strip().lower())
        if kind is None:
            raise DocumentError(f"unsupported media type {media_type!r} (supported: {', '.join(_MEDIA_TYPES)})")
        return kind
    suffix = PurePosixPath(name).suffix.lower()
    if suffix not in SUPPORTED_EXTENSIONS:
        raise DocumentError(
            f"unsupported document type {suffix or '(no extension)'!r} (supported: {' '.join(SUPPORTED_EXTENSIONS)})"
        )
    return suffix


def extract_blocks(name: str, data: bytes, media_type: str = "") -> list[Block]:
    """The document's typed blocks in reading order; raises DocumentError when it has none."""
    kind = document_kind(name, media_type)
    if not data:
        raise DocumentError("document is empty")
    if kind == ".pdf":
        try:
            elements = pdf_elements(data)
        except PdfUnreadableError as exc:
            raise DocumentError(str(exc)) from exc
    else:
        text = unicodedata.normalize("NFC", _decode(data)).replace("\r\n", "\n").replace("\r", "\n")
        reader = {".md": markdown_elements, ".html": html_elements, ".htm": html_elements}.get(kind, text_elements)
        elements = reader(text)
    blocks = [block for block in assemble(elements) if block.text.strip()]
    if not blocks:
        raise DocumentError("document contains no text")
    return blocks


def _decode(data: bytes) -> str:
    if b"\x00" in data[:8192]:
        raise DocumentError("not a text document: it contains binary data")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DocumentError(f"not valid UTF-8 text (byte {exc.start}): save the file as UTF-8") from exc


@dataclass(frozen=True)
class _Unit:
    text: str
    starts_paragraph: bool


def _split_long(text: str, limit: int) -> list[str]:
    """Split a run of text longer than `limit` at word boundaries (inside words only if it must)."""
    pieces: list[str] = []
    current = ""
    for word in text.split(" "):
        while len(word) > limit:
            if current:
                pieces.append(current)
                current = ""
            pieces.append(word[:limit])
            word = word[limit:]
        if current and len(current) + 1 + len(word) > limit:
            pieces.append(current)
            current = word
        else:
            current = f"{current} {word}" if current else word
    if current:
        pieces.append(current)
    return pieces


def _units(paragraphs: list[str], limit: int) -> list[_Unit]:
    units: list[_Unit] = []
    for paragraph in paragraphs:
        first = True
        for sentence in split_sentences(paragraph):
            for piece in _split_long(sentence, limit) if len(sentence) > limit else [sentence]:
                units.append(_Unit(piece, first))
                first = False
    return units


def _overlap_tail(text: str, overlap: int) -> str:
    """The last `overlap` characters of a chunk, starting at a word boundary."""
    if overlap <= 0:
        return ""
    tail = text[-overlap:]
    if len(text) > overlap and not text[-overlap - 1].isspace():
        _, _, rest = tail.partition(" ")
        tail = rest
    return tail.strip()


def _pack_prose(paragraphs: list[str], chunk_size: int, chunk_overlap: int) -> list[str]:
    """Paragraphs packed into pieces of at most `chunk_size` characters, cut at sentence ends where possible;
    neighbouring pieces share up to `chunk_overlap` characters so a fact cut by a boundary is whole in one."""
    # A unit must fit beside the overlap carried from the previous chunk and a separator.
    unit_limit = max(1, chunk_size - chunk_overlap - 2)
    pieces: list[str] = []
    current, current_is_overlap = "", False
    for unit in _units(paragraphs, unit_limit):
        separator = "\n\n" if unit.starts_paragraph else " "
        fits = len(current) + len(separator) + len(unit.text) <= chunk_size
        # Close a well-filled chunk at a paragraph boundary instead of starting the paragraph in it.
        prefer_break = unit.starts_paragraph and len(current) >= chunk_size // 2 and not current_is_overlap
        if current and not current_is_overlap and (not fits or prefer_break):
            pieces.append(current)
            current, current_is_overlap = _overlap_tail(current, chunk_overlap), True
        current = f"{current}{separator}{unit.text}" if current else unit.text
        current_is_overlap = False
    if current and not current_is_overlap:
        pieces.append(current)
    return pieces


def _pack_lines(lines: list[str], chunk_size: int) -> list[str]:
    """Whole lines (list items, table rows, code) packed into pieces of at most `chunk_size` characters; a line
    longer than that is cut at word boundaries."""
    pieces: list[str] = []
    current = ""
    for line in lines:
        for part in _split_long(line, chunk_size) if len(line) > chunk_size else [line]:
            if current and len(current) + 1 + len(part) > chunk_size:
                pieces.append(current)
                current = ""
            current = f"{current}\n{part}" if current else part
    if current:
        pieces.append(current)
    return pieces


def _faq_pieces(block: Block, chunk_size: int) -> list[str]:
    """A question with its answer; an answer too long for one chunk is cut at sentence ends, each piece under
    the question again, so no piece of an answer is ever found without the question it answers."""
    question = block.question if len(block.question) <= chunk_size // 2 else block.question[: chunk_size // 2].rstrip() + "…"
    room = chunk_size - len(question) - 1
    return [f"{question}\n{part}" for part in _pack_prose([block.text], room, 0)]


def _same_run(block: Block, previous: Block | None) -> bool:
    """Blocks packed into the same chunks: one kind, one heading path, one list or table."""
    return (
        previous is not None
        and block.kind == previous.kind
        and block.headings == previous.headings
        and block.kind != FAQ
        and (block.group == previous.group or block.kind in (PARAGRAPH, CODE))
    )


def chunk_blocks(document: str, blocks: list[Block], chunk_size: int = 500, chunk_overlap: int = 50) -> list[Chunk]:
    """The document's chunks, each of one kind under one heading path, none longer than `chunk_size`."""
    if chunk_size <= 0 or not 0 <= chunk_overlap <= chunk_size // 2:
        raise ValueError("need chunk_size > 0 and 0 <= chunk_overlap <= chunk_size / 2")
    runs: list[list[Block]] = []
    for block in blocks:
        if runs and _same_run(block, runs[-1][-1]):
            runs[-1].append(block)
        else:
            runs.append([block])
    chunks: list[Chunk] = []
    for run in runs:
        kind, headings = run[0].kind, run[0].headings
        if kind == FAQ:
            texts = _faq_pieces(run[0], chunk_size)
        elif kind == PARAGRAPH:
            texts = _pack_prose([block.text for block in run], chunk_size, chunk_overlap)
        elif kind == CODE:
            texts = _pack_lines([line for block in run for line in block.text.splitlines() if line.strip()], chunk_size)
        else:
            texts = _pack_lines([block.text for block in run], chunk_size)
        first = len(chunks)
        chunks.extend(Chunk(document, first + offset, text, kind, headings, mentions(text)) for offset, text in enumerate(texts))
    return chunks


def document_chunks(name: str, data: bytes, media_type: str = "", chunk_size: int = 500, chunk_overlap: int = 50) -> list[Chunk]:
    """Extract and chunk one uploaded document; raises DocumentError when it cannot be read."""
    return chunk_blocks(name, extract_blocks(name, data, media_type), chunk_size, chunk_overlap)
