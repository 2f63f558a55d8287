"""Lexical search over one shard's chunks: BM25 ranking from SQLite's FTS5 full-text index.

Dense vectors find paraphrases but miss exact terms: an error code, a
product name, a config key a caller reads out. FTS5 is a real inverted index
with BM25 ranking and Porter stemming, part of the SQLite that Python
already ships, so it adds no dependency. It lives in memory and is stored
with the shard as SQLite's own serialized database file (no pickle),
checksummed and swapped with the rest of the version. Identifiers are split
at punctuation ("retry_max_attempts" is found by "retry max attempts"),
which is how a caller says them.
"""

from __future__ import annotations

import re
import sqlite3
import threading

from services.common.sentences import STOPWORDS

_TOKEN = re.compile(r"[^\W_]+")
_TOKENIZER = "porter unicode61 remove_diacritics 2"
# Enough distinct words for any caller's question; more would only slow the query down.
_MAX_QUERY_TERMS = 32


def query_words(query: str) -> list[str]:
    """The distinct content words of a query, in order."""
    words = [word for word in _TOKEN.findall(query.lower()) if word not in STOPWORDS]
    return list(dict.fromkeys(words))[:_MAX_QUERY_TERMS]


def match_expression(words: list[str]) -> str:
    """An FTS5 query matching any of `words`, each quoted so no word is read as an operator."""
    return " OR ".join(f'"{word}"' for word in words)


class LexicalIndex:
    """An immutable FTS5 index whose row ids are the positions of the shard's chunks."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection
        # One connection serves every search thread; SQLite wants them one at a time.
        self._lock = threading.Lock()

    @classmethod
    def build(cls, texts: list[str]) -> LexicalIndex:
        connection = sqlite3.connect(":memory:", check_same_thread=False)
        connection.execute(f"CREATE VIRTUAL TABLE chunks USING fts5(body, tokenize='{_TOKENIZER}')")
        index = cls(connection)
        index._insert(0, texts)
        return index

    @classmethod
    def from_bytes(cls, data: bytes) -> LexicalIndex:
        connection = sqlite3.connect(":memory:", check_same_thread=False)
        connection.deserialize(data)
        index = cls(connection)
        # A damaged file must fail here, where the shard is loaded, not on the first search.
        with index._lock:
            connection.execute("INSERT INTO chunks(chunks) VALUES('integrity-check')")
        return index

    def to_bytes(self) -> bytes:
        with self._lock:
            return self._connection.serialize()

    def extended(self, start: int, texts: list[str]) -> LexicalIndex:
        """A copy with `texts` added as rows `start`, `start + 1`...; this index is left as it is."""
        copy = LexicalIndex.from_bytes(self.to_bytes())
        copy._insert(start, texts)
        return copy

    def _insert(self, start: int, texts: list[str]) -> None:
        with self._lock:
            self._connection.executemany(
                "INSERT INTO chunks(rowid, body) VALUES (?, ?)", ((start + offset, text) for offset, text in enumerate(texts))
            )
            self._connection.commit()

    def _chunks_containing(self, word: str, cap: int) -> int:
        """How many chunks contain `word` (as the index stems it), counting no further than `cap`."""
        return self._connection.execute(
            "SELECT count(*) FROM (SELECT 1 FROM chunks WHERE chunks MATCH ? LIMIT ?)", (match_expression([word]), cap)
        ).fetchone()[0]

    def unknown_words(self, query: str) -> list[str]:
        """Content words of `query` that no chunk contains; numbers alone are left out, since a figure the
        caller says need not appear as such."""
        with self._lock:
            return [word for word in query_words(query) if not word.isdigit() and not self._chunks_containing(word, 1)]

    def search(self, query: str, limit: int) -> list[tuple[int, float]]:
        """(row, score) of the best `limit` rows for `query`, best first; higher scores are better."""
        words = query_words(query)
        if not words or limit <= 0:
            return []
        with self._lock:
            rows = self._connection.execute(
                "SELECT rowid, bm25(chunks) FROM chunks WHERE chunks MATCH ? ORDER BY bm25(chunks) LIMIT ?",
                (match_expression(words), limit),
            ).fetchall()
        return [(int(row), -float(score)) for row, score in rows]
