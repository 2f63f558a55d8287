"""Turning uploaded documents into chunks: text extraction, then chunking.

Extraction errors are `DocumentError`s with a message meant for the person
who uploaded the file; one bad document never stops the rest of a batch.
"""

from __future__ import annotations

import io
import re
import unicodedata
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import PurePosixPath

from pypdf import PdfReader
from pypdf.errors import FileNotDecryptedError, PyPdfError

SUPPORTED_EXTENSIONS = (".txt", ".md", ".pdf", ".html", ".htm")
_MEDIA_TYPES = {
    "text/plain": ".txt",
    "text/markdown": ".md",
    "application/pdf": ".pdf",
    "text/html": ".html",
}


class DocumentError(ValueError):
    """This document cannot be ingested; the message says why."""


@dataclass(frozen=True)
class Chunk:
    document: str
    position: int
    text: str

    @property
    def chunk_id(self) -> str:
        return f"{self.document}#{self.position}"


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


def extract_text(name: str, data: bytes, media_type: str = "") -> str:
    """Plain text of a document, paragraphs separated by blank lines."""
    kind = document_kind(name, media_type)
    if not data:
        raise DocumentError("document is empty")
    if kind == ".pdf":
        text = _pdf_text(data)
    elif kind in (".html", ".htm"):
        text = _html_text(_decode(data))
    elif kind == ".md":
        text = _markdown_text(_decode(data))
    else:
        text = _decode(data)
    text = normalise_whitespace(text)
    if not text:
        raise DocumentError("document contains no text")
    return text


def _decode(data: bytes) -> str:
    if b"\x00" in data[:8192]:
        raise DocumentError("not a text document: it contains binary data")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DocumentError(f"not valid UTF-8 text (byte {exc.start}): save the file as UTF-8") from exc


def _pdf_text(data: bytes) -> str:
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise DocumentError("PDF is encrypted with a password: upload an unprotected copy")
        pages = [page.extract_text() or "" for page in reader.pages]
    except DocumentError:
        raise
    except FileNotDecryptedError as exc:
        raise DocumentError("PDF is encrypted with a password: upload an unprotected copy") from exc
    # pypdf surfaces malformed files as many exception types; each means this document is unreadable.
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError, OSError, RecursionError) as exc:
        raise DocumentError(f"corrupt or unreadable PDF: {exc}") from exc
    text = "\n\n".join(pages)
    if not text.strip():
        raise DocumentError("PDF has no extractable text (is it a scanned image?)")
    return text


class _HtmlTextParser(HTMLParser):
    """Collects visible text; block elements become paragraph breaks."""

    _SKIPPED = {"script", "style", "head", "noscript", "template", "svg", "nav"}
    _BLOCKS = {
        "p", "div", "section", "article", "header", "footer", "main", "aside", "li", "ul", "ol",
        "table", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "br", "hr", "blockquote", "pre", "dd", "dt",
    }

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIPPED:
            self._skip_depth += 1
        elif tag in self._BLOCKS:
            self.parts.append("\n\n")
        elif tag in ("td", "th"):
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIPPED:
            self._skip_depth = max(0, self._skip_depth - 1)
        elif tag in self._BLOCKS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self._skip_depth:
            self.parts.append(data)


def _html_text(html: str) -> str:
    parser = _HtmlTextParser()
    parser.feed(html)
    parser.close()
    return "".join(parser.parts)


_MD_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_MD_LINE_MARKUP = re.compile(r"^[ \t]{0,3}(?:#{1,6}[ \t]+|>[ \t]?|[-*+][ \t]+|\d+[.)][ \t]+)", re.MULTILINE)
_MD_EMPHASIS = re.compile(r"(\*\*|__|\*|_|`)(?=\S)(.+?)(?<=\S)\1")
_MD_RULE = re.compile(r"^[ \t]*(?:[-*_][ \t]*){3,}$", re.MULTILINE)


def _markdown_text(markdown: str) -> str:
    """Markdown without its markup, so chunks read (and get spoken) as prose."""
    text = _MD_LINK.sub(r"\1", markdown)
    text = _MD_RULE.sub("", text)
    text = _MD_LINE_MARKUP.sub("", text)
    return _MD_EMPHASIS.sub(r"\2", text)


def normalise_whitespace(text: str) -> str:
    """NFC text with single spaces inside paragraphs and one blank line between them."""
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    paragraphs = re.split(r"\n\s*\n", text)
    cleaned = (" ".join(paragraph.split()) for paragraph in paragraphs)
    return "\n\n".join(paragraph for paragraph in cleaned if paragraph)


_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+")


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


def _units(text: str, limit: int) -> list[_Unit]:
    units: list[_Unit] = []
    for paragraph in text.split("\n\n"):
        first = True
        for sentence in _SENTENCE_END.split(paragraph):
            for piece in _split_long(sentence, limit) if len(sentence) > limit else [sentence]:
                if piece:
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


def chunk_text(document: str, text: str, chunk_size: int = 500, chunk_overlap: int = 50) -> list[Chunk]:
    """Cut text into chunks of at most `chunk_size` characters.

    Chunks end at paragraph or sentence boundaries where they can, so a
    retrieved chunk reads as whole sentences; neighbouring chunks share up
    to `chunk_overlap` characters so a fact split across a boundary is still
    found whole in one of them.
    """
    if chunk_size <= 0 or not 0 <= chunk_overlap < chunk_size:
        raise ValueError("need chunk_size > 0 and 0 <= chunk_overlap < chunk_size")
    text = normalise_whitespace(text)
    # A unit must fit beside the overlap carried from the previous chunk and a separator.
    unit_limit = max(1, chunk_size - chunk_overlap - 2)
    chunks: list[str] = []
    current = ""
    current_is_overlap = False
    for unit in _units(text, unit_limit):
        separator = "\n\n" if unit.starts_paragraph else " "
        fits = len(current) + len(separator) + len(unit.text) <= chunk_size
        # Close a well-filled chunk at a paragraph boundary instead of starting the paragraph in it.
        prefer_break = unit.starts_paragraph and len(current) >= chunk_size // 2 and not current_is_overlap
        if current and not current_is_overlap and (not fits or prefer_break):
            chunks.append(current)
            current = _overlap_tail(current, chunk_overlap)
            current_is_overlap = True
        if current:
            current = f"{current}{separator}{unit.text}"
        else:
            current = unit.text
        current_is_overlap = False
    if current and not current_is_overlap:
        chunks.append(current)
    return [Chunk(document, position, body) for position, body in enumerate(chunks)]
