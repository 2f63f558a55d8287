"""What may be said from retrieved context: each chunk read by its block type into sayable passages.

Shared by the extractive answerer (llm) and the gateway's last-resort answer
when the llm service is down: both may only say what the org's documents
say, and neither may ever say a FAQ's question, a heading, a list marker or
a line of code. A paragraph gives its whole sentences (not the fragment a
chunk overlap starts with), a FAQ gives the sentences of its answer, a list
or table chunk gives each item or row as a complete phrase. Each passage
carries the context it is matched on (its headings, its FAQ question, the
kinds of facts it gives) apart from what is said.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from services.common.generated.voiceagent.v1 import llm_pb2, retrieval_pb2
from services.common.mentions import mentions
from services.common.sentences import content_words, split_sentences

# What a chunk of retrieved text is (its block type in the Search and Generate contracts).
PARAGRAPH = "paragraph"
FAQ = "faq"
LIST_ITEM = "list_item"
TABLE_ROW = "table_row"
CODE = "code"
# Headings nearest the text say most about it; a document's title says little about any one passage.
_CONTEXT_HEADINGS = 2


class ContextChunkLike(Protocol):
    """A retrieved chunk as the retrieval and llm protos carry it."""

    text: str
    chunk_id: str
    block_type: str
    heading_path: Iterable[str]


@dataclass(frozen=True)
class Passage:
    # Exactly what may be spoken, ending like a sentence.
    said: str
    # What it is matched against: its nearest headings, its FAQ question, then what is said.
    context: str
    chunk_id: str
    kind: str
    # Passages of one FAQ answer, one list or one table, or one paragraph share it; `position` orders them.
    block: str
    position: int
    # The rank of its chunk among the retrieved ones, from 0 (retrieval's best).
    rank: int = 0


def _sentence(text: str) -> str:
    text = " ".join(text.split())
    return text if text[-1:] in ".!?" else f"{text}."


def _is_whole(sentence: str) -> bool:
    """Not the tail of a sentence cut off by a chunk boundary, and long enough to say something."""
    first = sentence.lstrip("\"'(“")[:1]
    return bool(first) and (first.isupper() or first.isdigit() or first in "$€£") and len(sentence.split()) >= 2


def passages_of(chunk: ContextChunkLike, rank: int = 0) -> list[Passage]:
    kind = chunk.block_type or PARAGRAPH
    headings = " ".join(list(chunk.heading_path)[-_CONTEXT_HEADINGS:])
    found: list[Passage] = []

    def add(said: str, block: str, question: str = "") -> None:
        context = " ".join(part for part in (headings, question, said, *mentions(said)) if part)
        found.append(Passage(_sentence(said), context, chunk.chunk_id, kind, f"{chunk.chunk_id}/{block}", len(found), rank))

    if kind == CODE:
        return []
    if kind == FAQ:
        question, _, answer = chunk.text.partition("\n")
        for sentence in split_sentences(answer):
            add(sentence, "answer", question)
    elif kind in (LIST_ITEM, TABLE_ROW):
        for line in chunk.text.splitlines():
            if line.strip():
                add(line, "lines")
    else:
        for number, paragraph in enumerate(chunk.text.split("\n\n")):
            for sentence in split_sentences(paragraph):
                if _is_whole(sentence):
                    add(sentence, str(number))
    return found


def passages(chunks: Iterable[ContextChunkLike]) -> list[Passage]:
    """The sayable passages of the chunks, in order, each said once."""
    seen: set[str] = set()
    found = []
    for rank, chunk in enumerate(chunks):
        for passage in passages_of(chunk, rank):
            if passage.said not in seen:
                seen.add(passage.said)
                found.append(passage)
    return found


def best_overlap_passage(question: str, chunks: Iterable[ContextChunkLike], unknown_terms: Iterable[str] = ()) -> Passage | None:
    """The passage sharing the most content words with the question, if any: the answer of last resort, for
    when no model is there to choose. None when the question names something the documents never mention."""
    if any(True for _ in unknown_terms):
        return None
    asked = content_words(question)
    scored = [(len(asked & content_words(passage.context)), passage) for passage in passages(chunks)]
    best = max(scored, key=lambda pair: pair[0], default=(0, None))
    return best[1] if best[0] > 0 else None


def context_chunks(hits: Iterable[retrieval_pb2.SearchHit]) -> list[llm_pb2.ContextChunk]:
    """Search hits as the llm's context, block type and heading path included."""
    return [
        llm_pb2.ContextChunk(
            text=hit.text, document=hit.document, chunk_id=hit.chunk_id, score=hit.score,
            block_type=hit.block_type, heading_path=list(hit.heading_path),
        )
        for hit in hits
    ]
