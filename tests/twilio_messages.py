"""Twilio's Media Streams messages as documented (tests/fixtures/twilio_media_stream.json), and their shape."""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import REPO_ROOT

RECORDED = json.loads((REPO_ROOT / "tests" / "fixtures" / "twilio_media_stream.json").read_text())
FROM_TWILIO: dict[str, dict] = RECORDED["from_twilio"]
TO_TWILIO: dict[str, dict] = RECORDED["to_twilio"]


def shape(value: Any) -> Any:
    """The structure of a message: its keys, nesting and value types, without the values."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__
