"""TwiML answers, built with the twilio SDK's VoiceResponse."""

from __future__ import annotations

from twilio.twiml.voice_response import Connect, Stream, VoiceResponse

from services.common.orgs import OrgConfig
from services.gateway.config import GatewaySettings
from services.gateway.turn import Speech

UNKNOWN_NUMBER = "Sorry, this number is not set up to take calls yet. Goodbye."
RATE_LIMITED = "Sorry, we can't take more calls from this number right now. Please try again later. Goodbye."
TROUBLE = "Sorry, we're having technical trouble. Please call again in a few minutes. Goodbye."
DEFAULT_VOICE = "Polly.Joanna"
# How long a transfer rings before the agent takes a message instead.
DIAL_TIMEOUT_SECONDS = 20


def _speak(response: VoiceResponse, speech: Speech, base_url: str, voice: str) -> None:
    if speech.audio_path:
        response.play(base_url + speech.audio_path)
    elif speech.text:
        response.say(speech.text, voice=voice)


def speak_and_listen(speech: Speech, org: OrgConfig, base_url: str, settings: GatewaySettings) -> str:
    """Say or play the speech, then record the caller's next turn."""
    response = VoiceResponse()
    _speak(response, speech, base_url, org.twilio_voice)
    response.record(
        action=f"{base_url}/voice/recording-callback",
        method="POST",
        timeout=settings.record_timeout_seconds,
        max_length=settings.record_max_length_seconds,
        play_beep=False,
        trim="trim-silence",
    )
    # Twilio skips the action when the caller said nothing and runs the next verb: without this the call would end.
    response.redirect(f"{base_url}/voice/no-input", method="POST")
    return str(response)


def speak_and_dial(speech: Speech, number: str, base_url: str, voice: str = DEFAULT_VOICE) -> str:
    """Say we are connecting, then transfer the call to the org's handoff number. When nobody answers, Twilio
    asks /voice/handoff-ended what next (the agent takes a message)."""
    response = VoiceResponse()
    _speak(response, speech, base_url, voice)
    response.dial(number, action=f"{base_url}/voice/handoff-ended", method="POST", timeout=DIAL_TIMEOUT_SECONDS)
    return str(response)


def dial(number: str, base_url: str) -> str:
    """A transfer on its own: what a live streaming call is redirected to."""
    response = VoiceResponse()
    response.dial(number, action=f"{base_url}/voice/handoff-ended" if base_url else None, method="POST", timeout=DIAL_TIMEOUT_SECONDS)
    return str(response)


def speak_and_hang_up(speech: Speech, base_url: str = "", voice: str = DEFAULT_VOICE) -> str:
    response = VoiceResponse()
    _speak(response, speech, base_url, voice)
    response.hangup()
    return str(response)


def connect_stream(base_url: str, org: OrgConfig, call_sid: str, token: str) -> str:
    """Hand the call to our Media Streams WebSocket; Twilio passes the <Parameter>s in its `start` message.

    When the stream ends without a hang-up (the gateway closes it: after its goodbye to a silent caller, or
    because it can no longer speak, say tts is down), Twilio carries on with the verbs after <Connect>: a
    redirect to /voice/stream-ended, which hangs up or has Twilio itself speak the org's fallback."""
    stream = Stream(url=base_url.replace("http", "ws", 1) + "/voice/stream")
    stream.parameter(name="org_id", value=org.org_id)
    stream.parameter(name="call_sid", value=call_sid)
    stream.parameter(name="token", value=token)
    connect = Connect()
    connect.append(stream)
    response = VoiceResponse()
    response.append(connect)
    response.redirect(f"{base_url}/voice/stream-ended", method="POST")
    return str(response)


def hang_up() -> str:
    response = VoiceResponse()
    response.hangup()
    return str(response)
