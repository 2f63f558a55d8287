"""Text extraction per document type, and a clear error for every bad document."""

import io

import pytest
from pypdf import PdfReader, PdfWriter

from services.retrieval.ingest import DocumentError, extract_text
from tests.conftest import SAMPLE_ORG

SAMPLE_PDF = (SAMPLE_ORG / "knowledge" / "price-list.pdf").read_bytes()


def test_plain_text_keeps_paragraphs_and_collapses_spaces():
    text = extract_text("notes.txt", b"First   line\ncontinues.\n\n\n\nSecond paragraph.\r\n")
    assert text == "First line continues.\n\nSecond paragraph."


def test_utf8_bom_is_dropped():
    assert extract_text("a.txt", "\ufeffHello".encode("utf-8")) == "Hello"


def test_markdown_markup_is_removed():
    markdown = b"# Title\n\nOpen **Monday** to _Friday_, see [our map](https://x.example/map).\n\n- Item one\n- Item two\n\n---\n"
    text = extract_text("page.md", markdown)
    assert text == "Title\n\nOpen Monday to Friday, see our map.\n\nItem one Item two"


def test_html_keeps_visible_text_only():
    html = (
        b"<html><head><title>T</title><style>p{}</style></head><body><nav>Menu</nav>"
        b"<h1>Find us</h1><p>At 1 Main St &amp; 2nd Ave.</p><script>alert(1)</script></body></html>"
    )
    assert extract_text("find.html", html) == "Find us\n\nAt 1 Main St & 2nd Ave."


def test_pdf_text_is_extracted():
    text = extract_text("price-list.pdf", SAMPLE_PDF)
    assert "A basic tune-up costs 75 dollars" in text


def test_media_type_overrides_the_extension():
    assert extract_text("upload.bin", b"<p>Hi</p>", media_type="text/html") == "Hi"


def test_corrupt_pdf_gets_a_clear_error():
    with pytest.raises(DocumentError, match="corrupt or unreadable PDF"):
        extract_text("broken.pdf", SAMPLE_PDF[: len(SAMPLE_PDF) // 3])


def test_pdf_that_is_not_a_pdf_at_all_gets_a_clear_error():
    with pytest.raises(DocumentError, match="corrupt or unreadable PDF"):
        extract_text("junk.pdf", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)


def encrypted_pdf(password: str) -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(SAMPLE_PDF)))
    writer.encrypt(user_password=password, owner_password="owner-secret", algorithm="AES-256")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_password_protected_pdf_gets_a_clear_error():
    with pytest.raises(DocumentError, match="encrypted with a password"):
        extract_text("secret.pdf", encrypted_pdf("hunter2"))


def test_pdf_encrypted_without_a_user_password_is_read():
    assert "tune-up" in extract_text("owner-only.pdf", encrypted_pdf(""))


def test_binary_junk_named_as_text_gets_a_clear_error():
    with pytest.raises(DocumentError, match="binary data"):
        extract_text("junk.txt", b"\x00\x01\x02binary\x00" * 50)


def test_non_utf8_text_gets_a_clear_error():
    with pytest.raises(DocumentError, match="not valid UTF-8"):
        extract_text("latin1.txt", "Crème brûlée".encode("latin-1"))


@pytest.mark.parametrize("name", ["report.docx", "README"])
def test_unsupported_types_are_refused(name):
    with pytest.raises(DocumentError, match="unsupported document type"):
        extract_text(name, b"content")


def test_empty_and_textless_documents_are_refused():
    with pytest.raises(DocumentError, match="empty"):
        extract_text("empty.txt", b"")
    with pytest.raises(DocumentError, match="no text"):
        extract_text("blank.html", b"<html><body>  <script>x</script></body></html>")


def test_rc4_encrypted_pdf_with_a_password_gets_a_clear_error():
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(SAMPLE_PDF)))
    writer.encrypt(user_password="pw", algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    with pytest.raises(DocumentError, match="encrypted with a password"):
        extract_text("rc4.pdf", out.getvalue())
