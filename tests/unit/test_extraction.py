"""Every document format read into typed blocks, and a clear error for every bad document."""

import io

import pytest
from pypdf import PdfReader, PdfWriter

from services.retrieval.blocks import CODE, FAQ, LIST_ITEM, PARAGRAPH, TABLE_ROW, Block, row_statement
from services.retrieval.ingest import DocumentError, extract_blocks
from tests.conftest import SAMPLE_ORG

SAMPLE_PDF = (SAMPLE_ORG / "knowledge" / "price-list.pdf").read_bytes()


def said(blocks: list[Block]) -> str:
    return " ".join(block.text for block in blocks)


def test_plain_text_paragraphs_headings_and_lists():
    text = b"""OPENING HOURS

We open   at nine
and close at five.

Bring:
- a photo ID
- proof of address
  dated this year
"""
    blocks = extract_blocks("notes.txt", text)
    assert blocks == [
        Block(PARAGRAPH, "We open at nine and close at five.", ("OPENING HOURS",)),
        Block(PARAGRAPH, "Bring:", ("OPENING HOURS",)),
        Block(LIST_ITEM, "a photo ID", ("OPENING HOURS", "Bring"), group=1),
        Block(LIST_ITEM, "proof of address dated this year", ("OPENING HOURS", "Bring"), group=1),
    ]


def test_short_lines_that_belong_apart_stay_apart():
    blocks = extract_blocks("hours.txt", b"Monday - Friday: 7:00 am to 6:00 pm\nSaturday: 8:00 am to 2:00 pm\nSunday: Closed")
    assert [b.text for b in blocks] == ["Monday - Friday: 7:00 am to 6:00 pm", "Saturday: 8:00 am to 2:00 pm", "Sunday: Closed"]
    assert {b.kind for b in blocks} == {LIST_ITEM}


def test_a_run_in_heading_labels_its_paragraph_and_is_never_said():
    [block] = extract_blocks("policies.txt", b"Returns. New bicycles can be returned within 30 days.")
    assert block.headings == ("Returns",) and block.text == "New bicycles can be returned within 30 days."


def test_utf8_bom_is_dropped():
    assert said(extract_blocks("a.txt", "\ufeffHello there.".encode("utf-8"))) == "Hello there."


def test_markdown_structure_is_read_from_its_markup():
    markdown = b"""# Rentals

Open **Monday** to _Friday_, see [our map](https://x.example/map).

## Can I pay by card?

Yes, we take Visa and Mastercard.

## Prices

| Item | Half day | Full day |
|---|---|---|
| Skis | $28 | $39 |

- No pets
- No smoking

```bash
curl -X POST https://api.example.com
```
"""
    blocks = extract_blocks("page.md", markdown)
    assert [(b.kind, b.headings, b.question, b.text) for b in blocks] == [
        (PARAGRAPH, ("Rentals",), "", "Open Monday to Friday, see our map."),
        (FAQ, ("Rentals",), "Can I pay by card?", "Yes, we take Visa and Mastercard."),
        (TABLE_ROW, ("Rentals", "Prices"), "", "Skis: half day $28, full day $39"),
        (LIST_ITEM, ("Rentals", "Prices"), "", "No pets"),
        (LIST_ITEM, ("Rentals", "Prices"), "", "No smoking"),
        (CODE, ("Rentals", "Prices"), "", "curl -X POST https://api.example.com"),
    ]


def test_a_bold_question_line_opens_a_faq_in_markdown():
    blocks = extract_blocks("faq.md", b"**Do you take cash?**\n\nYes, cash and cards.\n")
    assert [(b.kind, b.question, b.text) for b in blocks] == [(FAQ, "Do you take cash?", "Yes, cash and cards.")]


def test_html_keeps_visible_text_and_its_structure():
    html = b"""<html><head><title>T</title><style>p{}</style></head><body><nav><ul><li>Home<li>About</ul></nav>
<h1>Find us</h1><p>At 1 Main St &amp; 2nd Ave.</p><script>alert(1)</script>
<dl><dt>Can I park?</dt><dd><p>Yes, behind the shop.</p></dd></dl>
<details><summary>Is there wifi?</summary><p>Yes, free.</p></details>
<p>Mon-Fri: 9am-5pm<br>Sat: 10am-2pm</p>
<table><caption>Prices</caption><tr><th>Item<th>Price<tr><td>Day rental<td>$40<tr><td><b>Week</b> rental</td><td>$150</td></table>
<pre><code>GET /v1/hours</code></pre></body></html>"""
    blocks = extract_blocks("find.html", html)
    assert [(b.kind, b.question, b.text) for b in blocks] == [
        (PARAGRAPH, "", "At 1 Main St & 2nd Ave."),
        (FAQ, "Can I park?", "Yes, behind the shop."),
        (FAQ, "Is there wifi?", "Yes, free."),
        (LIST_ITEM, "", "Mon-Fri: 9am-5pm"),
        (LIST_ITEM, "", "Sat: 10am-2pm"),
        (PARAGRAPH, "", "Prices:"),
        (TABLE_ROW, "", "Day rental: price $40"),
        (TABLE_ROW, "", "Week rental: price $150"),
        (CODE, "", "GET /v1/hours"),
    ]
    assert all(b.headings[0] == "Find us" for b in blocks)
    assert blocks[6].headings == ("Find us", "Prices")  # a table's caption is its rows' context


def test_a_table_row_names_its_column_headers():
    assert row_statement(("DVDs", "1 week", "2"), ("Item", "Loan period", "Renewals")) == "DVDs: loan period 1 week, renewals 2"
    assert row_statement(("Day rental", "$40"), ()) == "Day rental, $40"


def test_pdf_lines_are_joined_into_paragraphs_under_their_titles():
    blocks = extract_blocks("price-list.pdf", SAMPLE_PDF)
    repairs = next(b for b in blocks if b.headings[-1] == "Repairs")
    assert repairs.kind == PARAGRAPH
    assert "A basic tune-up costs 75 dollars and includes adjusting the brakes" in repairs.text


def test_media_type_overrides_the_extension():
    assert said(extract_blocks("upload.bin", b"<p>Hi there.</p>", media_type="text/html")) == "Hi there."


def test_corrupt_pdf_gets_a_clear_error():
    with pytest.raises(DocumentError, match="corrupt or unreadable PDF"):
        extract_blocks("broken.pdf", SAMPLE_PDF[: len(SAMPLE_PDF) // 3])


def test_pdf_that_is_not_a_pdf_at_all_gets_a_clear_error():
    with pytest.raises(DocumentError, match="corrupt or unreadable PDF"):
        extract_blocks("junk.pdf", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)


def encrypted_pdf(password: str) -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(SAMPLE_PDF)))
    writer.encrypt(user_password=password, owner_password="owner-secret", algorithm="AES-256")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_password_protected_pdf_gets_a_clear_error():
    with pytest.raises(DocumentError, match="encrypted with a password"):
        extract_blocks("secret.pdf", encrypted_pdf("hunter2"))


def test_pdf_encrypted_without_a_user_password_is_read():
    assert "tune-up" in said(extract_blocks("owner-only.pdf", encrypted_pdf("")))


def test_binary_junk_named_as_text_gets_a_clear_error():
    with pytest.raises(DocumentError, match="binary data"):
        extract_blocks("junk.txt", b"\x00\x01\x02binary\x00" * 50)


def test_non_utf8_text_gets_a_clear_error():
    with pytest.raises(DocumentError, match="not valid UTF-8"):
        extract_blocks("latin1.txt", "Crème brûlée".encode("latin-1"))


@pytest.mark.parametrize("name", ["report.docx", "README"])
def test_unsupported_types_are_refused(name):
    with pytest.raises(DocumentError, match="unsupported document type"):
        extract_blocks(name, b"content")


def test_empty_and_textless_documents_are_refused():
    with pytest.raises(DocumentError, match="empty"):
        extract_blocks("empty.txt", b"")
    with pytest.raises(DocumentError, match="no text"):
        extract_blocks("blank.html", b"<html><body>  <script>x</script></body></html>")


def test_rc4_encrypted_pdf_with_a_password_gets_a_clear_error():
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(SAMPLE_PDF)))
    writer.encrypt(user_password="pw", algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    with pytest.raises(DocumentError, match="encrypted with a password"):
        extract_blocks("rc4.pdf", out.getvalue())


def kinds_and_texts(name: str, data: bytes) -> list[tuple[str, str, str]]:
    return [(b.kind, b.question, b.text) for b in extract_blocks(name, data)]


def test_questions_one_after_another_each_get_their_own_answer_and_are_never_content():
    text = b"Do you rent bikes?\n\nYes, daily from 9 a.m.\n\nDo you repair bikes?\n\nYes, all brands.\n\nAnything else?\n\n## Prices\n"
    assert kinds_and_texts("faq.md", text) == [
        (FAQ, "Do you rent bikes?", "Yes, daily from 9 a.m."),
        (FAQ, "Do you repair bikes?", "Yes, all brands."),
        (PARAGRAPH, "", "Prices"),  # a title with nothing under it is content, not a path
    ]


def test_a_line_that_looked_like_a_title_but_had_nothing_under_it_is_kept_as_content():
    assert said(extract_blocks("contact.txt", b"Contact\n\nPhone: (555) 201-4400\n\nEmail: info@acme.example")) == (
        "Phone: (555) 201-4400 Email: info@acme.example"
    )
    assert said(extract_blocks("one-line.txt", b"Call us at (555) 201-4400 to book a repair")) == "Call us at (555) 201-4400 to book a repair"
    assert "J. Smith runs the shop." in said(extract_blocks("team.txt", b"Our team\n\nJ. Smith runs the shop."))


def test_html_without_a_closing_head_and_with_blocks_inside_cells_is_read_whole():
    html = b"""<html><head><title>Acme</title><meta charset=utf-8><body><div><h2>Hours</h2><table>
<tr><th>Day</th><th>Hours</th></tr><tr><td><div>Monday</div></td><td><div>9-5</div></td></tr>
<tr><td>Tuesday</td><td>10-6</td></tr></table><p>Call first.</p></div></body></html>"""
    assert kinds_and_texts("hours.html", html) == [
        (TABLE_ROW, "", "Monday: hours 9-5"), (TABLE_ROW, "", "Tuesday: hours 10-6"), (PARAGRAPH, "", "Call first."),
    ]


def test_markdown_line_breaks_in_html_keep_words_apart():
    assert said(extract_blocks("hours.md", b"Monday 9-5<br>Tuesday 10-6<br/>Call 555-201-4400")) == "Monday 9-5 Tuesday 10-6 Call 555-201-4400"


def test_a_pdf_that_crashes_the_reader_is_one_failed_document():
    broken = SAMPLE_PDF.replace(b"/FlateDecode", b"/FateDecode", 1)
    with pytest.raises(DocumentError, match="corrupt or unreadable PDF"):
        extract_blocks("broken.pdf", broken)
