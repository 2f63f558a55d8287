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
    assert parse('{"event": "dtmf", "dtmf": {"digit": "1"}}') == Dtmf("1")
    assert parse('{"event": "stop"}') == Stop()


@pytest.mark.parametrize(
    "raw",
    [
        None, b"\x00binary", "not json", "[1, 2]", '"a string"', "42", '{"no": "event"}', '{"event": "party"}',
        '{"event": "start"}', '{"event": "start", "start": {"callSid": 5}}', '{"event": "start", "start": {"customParameters": [1]}}',
        '{"event": "media"}', '{"event": "media", "media": {}}', '{"event": "media", "media": {"payload": "***"}}',
        '{"event": "media", "media": {"payload": 7}}', '{"event": "mark", "mark": {}}', '{"event": "mark"}',
        '{"event": "dtmf", "dtmf": {"digit": "12"}}', '{"event": "dtmf"}',
        '{"event": "start", "start": {"callSid": "' + "C" * 5000 + '"}}', "[" * 100_000, "x" * (MAX_MESSAGE_CHARS + 1),
        json.dumps({"event": "media", "media": {"payload": base64.b64encode(bytes(100_000)).decode()}}),
    ],
    ids=lambda raw: repr(raw)[:40],
)
def test_anything_else_is_a_clear_error_never_a_crash(raw):
    with pytest.raises(MediaStreamError):
        parse(raw)


def test_the_messages_each_side_builds_have_twilios_documented_shapes_and_read_back():
    from services.common import media_streams as ms
    from tests.twilio_messages import FROM_TWILIO, TO_TWILIO, shape

    frame = bytes(range(160))
    built_by_twilio = {
        "connected": ms.connected(), "start": ms.start("MZ1", "CA1", "AC1", {"org_id": "acme"}),
        "media": ms.inbound_media("MZ1", frame, 1), "mark": ms.played("MZ1", "m1"), "dtmf": ms.dtmf("MZ1", "5"),
        "stop": ms.stop("MZ1", "CA1", "AC1"),
    }
    for event, message in built_by_twilio.items():
        assert set(shape(message)) <= set(shape(FROM_TWILIO[event])), event
        assert parse(json.dumps(message)) is not None
    assert parse(json.dumps(built_by_twilio["media"])) == Media(frame)
    built_by_gateway = {"media": ms.media(frame), "mark": ms.mark("m1"), "clear": ms.clear()}
    for event, message in built_by_gateway.items():
        assert set(shape({**message, "streamSid": "MZ1"})) == set(shape(TO_TWILIO[event])), event
    assert ms.parse_outbound(json.dumps(built_by_gateway["media"])) == Media(frame)
    assert ms.parse_outbound(json.dumps(built_by_gateway["mark"])) == Mark("m1")
    assert ms.parse_outbound(json.dumps(built_by_gateway["clear"])) == ms.Clear()
