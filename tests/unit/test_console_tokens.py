"""The console's signed tokens: what was signed comes back, and nothing else does."""

from __future__ import annotations

import pytest

from services.console.tokens import TokenSigner

KEY = b"0123456789abcdef0123456789abcdef"


def test_a_signed_value_comes_back_until_it_expires():
    signer = TokenSigner(KEY)
    token = signer.sign("session", {"uid": "u1", "epoch": 3}, 60, now=1000.0)
    assert signer.verify("session", token, now=1059.0) == {"uid": "u1", "epoch": 3}
    assert signer.verify("session", token, now=1060.0) is None


def test_a_token_for_one_purpose_is_nothing_for_another():
    signer = TokenSigner(KEY)
    assert signer.verify("csrf", signer.sign("session", {"uid": "u1"}, 60)) is None
    assert signer.digest("csrf", "s1") != signer.digest("login-form", "s1")


@pytest.mark.parametrize("mangle", [
    lambda token: token[:-1] + ("A" if token[-1] != "A" else "B"),  # the signature changed
    lambda token: "e30" + token[3:],  # the body changed
    lambda token: token.replace(".", ""),
    lambda token: token + ".x",
    lambda token: "",
    lambda token: "x" * 5000,
])  # fmt: skip
def test_a_changed_or_malformed_token_is_refused(mangle):
    signer = TokenSigner(KEY)
    assert signer.verify("session", mangle(signer.sign("session", {"uid": "u1"}, 60))) is None


def test_another_key_cannot_make_tokens_this_one_accepts():
    assert TokenSigner(KEY).verify("session", TokenSigner(b"x" * 32).sign("session", {"uid": "u1"}, 60)) is None
    with pytest.raises(ValueError, match="32 bytes"):
        TokenSigner(b"short")
