"""The lexical half of hybrid search: BM25 over a shard's chunks, words the documents never use."""

import sqlite3

import numpy as np
import pytest

from services.retrieval.ingest import Chunk
from services.retrieval.knowledge import unknown_terms
from services.retrieval.lexical import LexicalIndex, match_expression, query_words
from services.retrieval.shard import DocumentRecord, DocumentUpdate, OrgShard

TEXTS = [
    "Error E4021 means the webhook signing secret expired.",
    "Set retry_max_attempts to change how often a delivery is retried.",
    "Free parking is behind the shop, entered from Maple Lane.",
]


def test_exact_codes_and_split_identifiers_are_found():
    index = LexicalIndex.build(TEXTS)
    assert index.search("what does E4021 mean", 3)[0][0] == 0
    assert index.search("what is retry max attempts", 3)[0][0] == 1
    assert index.search("where do I park", 3)[0][0] == 2  # stemmed: park ~ parking


def test_query_words_are_never_read_as_search_operators():
    assert match_expression(query_words('parking OR NEAR(x) "quoted" * -not')) == '"parking" OR "near" OR "x" OR "quoted"'
    assert LexicalIndex.build(TEXTS).search('") OR * NEAR(', 3) == []
    assert query_words("what is the") == []


def test_words_no_chunk_contains_are_reported_numbers_aside():
    index = LexicalIndex.build(TEXTS)
    assert index.unknown_words("Can I pay with Venmo at 5 pm near the shop?") == ["pay", "venmo", "pm", "near"]


def test_an_index_survives_a_round_trip_and_grows_as_a_copy():
    index = LexicalIndex.build(TEXTS[:2])
    grown = LexicalIndex.from_bytes(index.to_bytes()).extended(2, TEXTS[2:])
    assert grown.search("parking", 3)[0][0] == 2
    assert index.search("parking", 3) == []


def test_a_damaged_index_fails_to_load():
    data = bytearray(LexicalIndex.build(TEXTS * 50).to_bytes())
    data[4096:8192] = bytes(4096)
    with pytest.raises(sqlite3.DatabaseError):
        LexicalIndex.from_bytes(bytes(data))


def shard_of(texts: list[str]) -> OrgShard:
    vectors = np.eye(8, dtype=np.float32)[: len(texts)]
    record = DocumentRecord("a.txt", "sha", 1, len(texts), "2026-01-01T00:00:00Z")
    update = DocumentUpdate(record, [Chunk("a.txt", i, t) for i, t in enumerate(texts)], vectors)
    return OrgShard.empty("acme", "test", 8).with_documents([update], 1000)


def test_unknown_terms_leave_out_everyday_words_of_the_callers_phrasing():
    shard = shard_of(TEXTS)
    assert unknown_terms(shard, "Hey guys, can I pay for parking with Venmo or Zelle?") == ["venmo", "zelle"]
    assert unknown_terms(shard, "What does error E4012 mean?") == ["e4012"]
    assert unknown_terms(shard, "Where is the free parking?") == []
