"""Every Media Streams message is validated before the call reads it."""

import base64
import json

import pytest

from services.common.media_streams import MAX_MESSAGE_CHARS, Connected, Dtmf, Mark, Media, MediaStreamError, Start, Stop, parse


def test_twilios_messages_are_read_into_typed_messages():
    assert parse('{"event": "connected", "protocol": "Call", "version": "1.0.0"}') == Connected()
    start = {"event": "start", "streamSid": "MZ1", "start": {"callSid": "CA1", "customParameters": {"org_id": "acme", "token": "1.a"}}}
    assert parse(json.dumps(start)) == Start("MZ1", "CA1", {"org_id": "acme", "token": "1.a"})
    frame = bytes(range(160))
    assert parse(json.dumps({"event": "media", "media": {"payload": base64.b64encode(frame).decode()}})) == Media(frame)
    assert parse('{"event": "mark", "mark": {"name": "m1"}}') == Mark("m1")
    assert parse('{"event": "dtmf", "dtmf": {"digit": "1"}}') == Dtmf()
    assert parse('{"event": "stop"}') == Stop()


@pytest.mark.parametrize(
    "raw",
    [
        None, b"\x00binary", "not json", "[1, 2]", '"a string"', "42", '{"no": "event"}', '{"event": "party"}',
        '{"event": "start"}', '{"event": "start", "start": {"callSid": 5}}', '{"event": "start", "start": {"customParameters": [1]}}',
        '{"event": "media"}', '{"event": "media", "media": {}}', '{"event": "media", "media": {"payload": "***"}}',
        '{"event": "media", "media": {"payload": 7}}', '{"event": "mark", "mark": {}}', '{"event": "mark"}',
        '{"event": "start", "start": {"callSid": "' + "C" * 5000 + '"}}', "[" * 100_000, "x" * (MAX_MESSAGE_CHARS + 1),
        json.dumps({"event": "media", "media": {"payload": base64.b64encode(bytes(100_000)).decode()}}),
    ],
    ids=lambda raw: repr(raw)[:40],
)
def test_anything_else_is_a_clear_error_never_a_crash(raw):
    with pytest.raises(MediaStreamError):
        parse(raw)
