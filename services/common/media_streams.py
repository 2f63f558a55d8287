"""Twilio Media Streams messages: parsed and validated when they come from Twilio, built in one place.

Every WebSocket message crosses a trust boundary, so it is checked here, in
one place, before anything else reads it: its size, that it is a JSON
object, that its event is one Twilio sends, and that the fields that event
needs are there with the right types. Anything else is a `MediaStreamError`
with a short reason, never an exception from deep inside the call. The
builders below make every message either side sends (the gateway's media,
mark and clear; Twilio's, for the call simulator), so both sides agree on
one shape.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field

# Twilio's messages are small (a 20 ms media frame is about 220 characters); nothing legitimate comes near this.
MAX_MESSAGE_CHARS = 64 * 1024
# One second of 8 kHz mu-law: far more than a 20 ms frame, far less than an abuse.
MAX_FRAME_BYTES = 8000
_MAX_PARAMETERS = 32
_MAX_FIELD_CHARS = 256


class MediaStreamError(ValueError):
    """Not a valid Media Streams message; the text says what is wrong (short, never the message itself)."""


@dataclass(frozen=True)
class Connected:
    pass


@dataclass(frozen=True)
class Start:
    stream_sid: str
    call_sid: str
    parameters: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Media:
    payload: bytes


@dataclass(frozen=True)
class Mark:
    name: str


@dataclass(frozen=True)
class Dtmf:
    digit: str


@dataclass(frozen=True)
class Stop:
    pass


InboundMessage = Connected | Start | Media | Mark | Dtmf | Stop


def _text(value: object, what: str) -> str:
    if not isinstance(value, str) or len(value) > _MAX_FIELD_CHARS:
        raise MediaStreamError(f"{what} must be a string of at most {_MAX_FIELD_CHARS} characters")
    return value


def _object(value: object, what: str) -> dict:
    if not isinstance(value, dict):
        raise MediaStreamError(f"{what} must be an object")
    return value


def parse(raw: str | bytes | None) -> InboundMessage:
    """One message from Twilio; MediaStreamError when it is not one Twilio sends."""
    if not isinstance(raw, str):
        raise MediaStreamError("messages must be text frames")
    if len(raw) > MAX_MESSAGE_CHARS:
        raise MediaStreamError(f"message longer than {MAX_MESSAGE_CHARS} characters")
    try:
        message = json.loads(raw)
    except (ValueError, RecursionError) as error:
        raise MediaStreamError("message is not JSON") from error
    message = _object(message, "a message")
    event = message.get("event")
    if event == "connected":
        return Connected()
    if event == "start":
        start = _object(message.get("start"), "start")
        parameters = _object(start.get("customParameters", {}), "start.customParameters")
        if len(parameters) > _MAX_PARAMETERS:
            raise MediaStreamError("too many custom parameters")
        return Start(
            stream_sid=_text(message.get("streamSid", start.get("streamSid", "")), "streamSid"),
            call_sid=_text(start.get("callSid", ""), "start.callSid"),
            parameters={_text(key, "a parameter name"): _text(value, "a parameter value") for key, value in parameters.items()},
        )
    if event == "media":
        media = _object(message.get("media"), "media")
        encoded = media.get("payload")
        if not isinstance(encoded, str) or len(encoded) > MAX_FRAME_BYTES * 4 // 3 + 4:
            raise MediaStreamError(f"media.payload must be base64 of at most {MAX_FRAME_BYTES} bytes")
        try:
            payload = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError) as error:
            raise MediaStreamError("media.payload is not base64") from error
        return Media(payload)
    if event == "mark":
        return Mark(_text(_object(message.get("mark"), "mark").get("name"), "mark.name"))
    if event == "dtmf":
        digit = _object(message.get("dtmf"), "dtmf").get("digit")
        if digit not in tuple("0123456789*#"):
            raise MediaStreamError("dtmf.digit must be one of 0-9, * or #")
        return Dtmf(digit)
    if event == "stop":
        return Stop()
    raise MediaStreamError("unknown event")


@dataclass(frozen=True)
class Clear:
    pass


OutboundMessage = Media | Mark | Clear
# The simulator's turn details (GATEWAY_TURN_DETAILS_HEADER) travel in a mark name; Twilio's own are short.
MAX_OUTBOUND_MARK_CHARS = 16 * 1024


def parse_outbound(raw: str | bytes) -> OutboundMessage | None:
    """A message the gateway sent (read by the call simulator); None for events Twilio would ignore."""
    message = json.loads(raw)
    event = message.get("event") if isinstance(message, dict) else None
    if event == "media":
        return Media(base64.b64decode(message["media"]["payload"]))
    if event == "mark":
        return Mark(str(message["mark"]["name"])[:MAX_OUTBOUND_MARK_CHARS])
    if event == "clear":
        return Clear()
    return None


def _b64(payload: bytes) -> str:
    return base64.b64encode(payload).decode()


# What the gateway sends (streamSid is added by the sender, which knows it).


def media(payload: bytes) -> dict:
    return {"event": "media", "media": {"payload": _b64(payload)}}


def mark(name: str) -> dict:
    return {"event": "mark", "mark": {"name": name}}


def clear() -> dict:
    return {"event": "clear"}


# What Twilio sends, for the call simulator.


def connected() -> dict:
    return {"event": "connected", "protocol": "Call", "version": "1.0.0"}


def start(stream_sid: str, call_sid: str, account_sid: str, parameters: dict[str, str]) -> dict:
    return {
        "event": "start", "streamSid": stream_sid,
        "start": {
            "accountSid": account_sid, "streamSid": stream_sid, "callSid": call_sid, "tracks": ["inbound"],
            "customParameters": parameters, "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
        },
    }


def inbound_media(stream_sid: str, payload: bytes, chunk: int) -> dict:
    return {
        "event": "media", "streamSid": stream_sid,
        "media": {"track": "inbound", "chunk": str(chunk), "timestamp": str(chunk * 20), "payload": _b64(payload)},
    }


def played(stream_sid: str, name: str) -> dict:
    """Twilio's answer to a mark: the audio sent before it has played."""
    return {"event": "mark", "streamSid": stream_sid, "mark": {"name": name}}


def dtmf(stream_sid: str, digit: str) -> dict:
    return {"event": "dtmf", "streamSid": stream_sid, "dtmf": {"track": "inbound_track", "digit": digit}}


def stop(stream_sid: str, call_sid: str, account_sid: str) -> dict:
    return {"event": "stop", "streamSid": stream_sid, "stop": {"accountSid": account_sid, "callSid": call_sid}}
