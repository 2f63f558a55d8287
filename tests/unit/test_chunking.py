"""Chunking: size limits, boundaries, overlap, awkward input, and structure that is never cut apart."""

import pytest

from services.retrieval.blocks import CODE, FAQ, LIST_ITEM, PARAGRAPH, TABLE_ROW, Block
from services.retrieval.ingest import chunk_blocks, document_chunks


def chunk_text(document, text, chunk_size=500, chunk_overlap=50):
    """Plain paragraphs (blank-line separated) through the chunker."""
    blocks = [Block(PARAGRAPH, " ".join(part.split())) for part in text.split("\n\n") if part.strip()]
    return chunk_blocks(document, blocks, chunk_size, chunk_overlap)

PARAGRAPHS = "\n\n".join(
    " ".join(f"Paragraph {p} sentence {s} talks about topic {p}-{s} in some detail." for s in range(6))
    for p in range(8)
)


def test_empty_and_whitespace_only_text_give_no_chunks():
    assert chunk_text("doc.txt", "") == []
    assert chunk_text("doc.txt", "  \n\n \t \n ") == []


def test_short_text_is_one_chunk_with_document_and_position():
    [chunk] = chunk_text("hours.md", "We open at nine.")
    assert (chunk.document, chunk.position, chunk.text, chunk.chunk_id) == ("hours.md", 0, "We open at nine.", "hours.md#0")


@pytest.mark.parametrize("size,overlap", [(100, 0), (200, 20), (500, 50), (1000, 100)])
def test_no_chunk_exceeds_the_chunk_size(size, overlap):
    chunks = chunk_text("doc", PARAGRAPHS, size, overlap)
    assert chunks and all(len(chunk.text) <= size for chunk in chunks)
    assert [chunk.position for chunk in chunks] == list(range(len(chunks)))


def test_chunks_end_at_sentence_boundaries():
    for chunk in chunk_text("doc", PARAGRAPHS, 300, 0):
        assert chunk.text.endswith("."), chunk.text


def test_every_sentence_survives_chunking():
    text = " ".join(chunk.text for chunk in chunk_text("doc", PARAGRAPHS, 300, 30))
    for p in range(8):
        for s in range(6):
            assert f"topic {p}-{s} in some detail." in text


def test_neighbouring_chunks_share_the_overlap():
    chunks = chunk_text("doc", PARAGRAPHS, 300, 60)
    for previous, following in zip(chunks, chunks[1:]):
        carried = following.text.split(" ")[0:3]
        assert " ".join(carried) in previous.text[-60:]


def test_a_paragraph_that_fits_is_not_split_when_a_chunk_is_well_filled():
    text = ("A" * 10 + ". ") * 20 + "\n\n" + "Second paragraph is short."
    chunks = chunk_text("doc", text, 300, 0)
    assert chunks[-1].text == "Second paragraph is short."


def test_one_huge_paragraph_without_punctuation_is_split_on_words():
    text = " ".join(f"word{i}" for i in range(2000))
    chunks = chunk_text("doc", text, 500, 50)
    assert len(chunks) > 20
    assert all(len(chunk.text) <= 500 for chunk in chunks)
    assert all(not chunk.text.startswith("ord") for chunk in chunks)
    assert "word1999" in chunks[-1].text


def test_a_word_longer_than_a_chunk_is_cut_hard():
    chunks = chunk_text("doc", "x" * 1200, 500, 50)
    assert "".join(chunk.text for chunk in chunks) == "x" * 1200
    assert all(len(chunk.text) <= 500 for chunk in chunks)


def test_unicode_is_kept_and_counted_in_characters():
    sentence = "Café crème coûte 3 € — 東京の自転車店です。 "
    chunks = chunk_text("doc", sentence * 40, 200, 20)
    assert all(len(chunk.text) <= 200 for chunk in chunks)
    assert "Café crème coûte 3 €" in chunks[0].text and "東京の自転車店です。" in chunks[0].text


def test_invalid_sizes_are_rejected():
    with pytest.raises(ValueError):
        chunk_text("doc", "text", 100, 100)
    with pytest.raises(ValueError):
        chunk_text("doc", "text", 0, 0)


def test_a_faq_answer_is_never_separated_from_its_question():
    answer = " ".join(f"Sentence {n} of the answer explains one more detail of the refund rules." for n in range(20))
    chunks = chunk_blocks("faq.html", [Block(FAQ, answer, ("FAQ",), question="Can I get a refund?")], 300, 30)
    assert len(chunks) > 1
    for chunk in chunks:
        assert chunk.kind == FAQ and chunk.text.startswith("Can I get a refund?\n") and len(chunk.text) <= 300
    said = " ".join(chunk.text.split("\n", 1)[1] for chunk in chunks)
    assert all(f"Sentence {n} of the answer" in said for n in range(20))


def test_each_chunk_holds_one_kind_under_one_heading_path():
    blocks = [
        Block(PARAGRAPH, "We rent skis.", ("Rentals",)),
        Block(TABLE_ROW, "Skis: full day $39", ("Rentals", "Prices"), group=1),
        Block(TABLE_ROW, "Boots: full day $16", ("Rentals", "Prices"), group=1),
        Block(LIST_ITEM, "No pets", ("Rules",), group=2),
        Block(LIST_ITEM, "No smoking", ("Rules",), group=2),
        Block(CODE, "curl -X POST", ("API",)),
    ]
    chunks = chunk_blocks("doc.md", blocks)
    assert [(c.kind, c.headings, c.text) for c in chunks] == [
        (PARAGRAPH, ("Rentals",), "We rent skis."),
        (TABLE_ROW, ("Rentals", "Prices"), "Skis: full day $39\nBoots: full day $16"),
        (LIST_ITEM, ("Rules",), "No pets\nNo smoking"),
        (CODE, ("API",), "curl -X POST"),
    ]
    # Embedded and indexed with its headings and what kind of facts it gives; said without them.
    assert chunks[1].indexed_text == "Rentals > Prices\nSkis: full day $39\nBoots: full day $16\nprice cost"


def test_table_rows_are_packed_whole_and_each_keeps_its_headers():
    rows = "\n".join(f"| Item {n} | ${n}0 | {n} days |" for n in range(40))
    markdown = f"# Prices\n\n| Item | Price | Loan period |\n|---|---|---|\n{rows}\n".encode()
    chunks = document_chunks("prices.md", markdown, chunk_size=200, chunk_overlap=20)
    lines = [line for chunk in chunks for line in chunk.text.splitlines()]
    assert all(chunk.kind == TABLE_ROW and len(chunk.text) <= 200 for chunk in chunks)
    assert lines == [f"Item {n}: price ${n}0, loan period {n} days" for n in range(40)]


def test_a_long_question_is_cut_so_no_chunk_outgrows_the_chunk_size():
    block = Block(FAQ, "Yes it is. " * 200, question="Is it " + "really " * 200 + "true?")
    chunks = chunk_blocks("faq.md", [block], 300, 0)
    assert all(len(chunk.text) <= 300 for chunk in chunks) and len(chunks) < 20


def test_an_overlap_above_half_the_chunk_size_is_refused():
    with pytest.raises(ValueError):
        chunk_text("doc", "text", 100, 60)
