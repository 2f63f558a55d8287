"""One turn of a call: recording in, spoken answer out, with a spoken fallback for every failure.

The caller must always hear something sensible: a failed stage changes what
is said, never whether something is said.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import TypeVar

import grpc

from services.common import audio
from services.common.answering import generation_request, last_resort, search_query
from services.common.generated.voiceagent.v1 import common_pb2, stt_pb2, tts_pb2
from services.common.logs import get_logger
from services.common.orgs import OrgConfig
from services.gateway.answers import AnswerPipeline
from services.gateway.audio_urls import AudioCache, AudioUrlSigner
from services.gateway.call_log import add_usage
from services.gateway.callbacks import CallbackDialogue, CallbackRequest, Step
from services.gateway.clients import ServiceClients
from services.gateway.config import GatewaySettings
from services.gateway.idle import HOW_CAN_I_HELP, STILL_THERE, IdleAction, idle_action, says_present
from services.gateway.metrics import FALLBACKS, STAGE_SECONDS
from services.gateway.security import RecordingDownloader, RecordingRefusedError, RecordingUnavailableError
from services.gateway.sessions import CallSession

log = get_logger(__name__)
T = TypeVar("T")

NOT_HEARD = "Sorry, I didn't catch that. Could you say it again?"
GOODBYE_PHRASES = re.compile(
    r"\b(good ?bye|bye( bye)?|that'?s all|that is all|no,? thanks?( you)?|nothing else|i'?m done|hang up)\b", re.IGNORECASE
)
# Telephone audio for <Play>: 8 kHz WAV is what the call carries anyway, and small to serve.
PLAY_FORMAT = common_pb2.AudioFormat(encoding=audio.WAV, sample_rate_hz=8000)


@dataclass
class Speech:
    text: str
    # Signed /audio path for <Play>; None means <Say> the text.
    audio_path: str | None = None


@dataclass
class TurnResult:
    speech: Speech
    end_call: bool = False
    transcript: str = ""
    sources: list[str] = field(default_factory=list)
    stage_ms: dict[str, float] = field(default_factory=dict)
    fallbacks: list[str] = field(default_factory=list)
    outcome: str = "answered"
    # The documents did not answer the question, so the org's fallback was said: a knowledge gap.
    unanswered: bool = False
    # A message the caller left for a callback, to store; a number to transfer the call to.
    callback: CallbackRequest | None = None
    transfer_to: str | None = None
    # The turn holds the caller's phone number: stored with its digits masked.
    private: bool = False


class StageClock:
    """Times each stage into the per-stage histogram and the turn's own record."""

    def __init__(self, org_label: str) -> None:
        self.org_label = org_label
        self.stage_ms: dict[str, float] = {}

    async def run(self, stage: str, work: Awaitable[T]) -> T:
        started = time.perf_counter()
        succeeded = False
        try:
            result = await work
            succeeded = True
            return result
        finally:
            elapsed = time.perf_counter() - started
            self.stage_ms[stage] = round(elapsed * 1000, 1)
            STAGE_SECONDS.labels(stage, self.org_label).observe(elapsed)
            log.info("turn.stage", stage=stage, ms=self.stage_ms[stage], ok=succeeded)


class Voice:
    """Turns text into what the gateway tells Twilio to speak, per the org's speech mode."""

    def __init__(self, clients: ServiceClients, signer: AudioUrlSigner, cache: AudioCache, settings: GatewaySettings) -> None:
        self.clients = clients
        self.signer = signer
        self.cache = cache
        self.settings = settings

    async def synthesise(self, org_id: str, voice: str, text: str, call_sid: str, language: str = "") -> bytes:
        request = tts_pb2.SynthesizeRequest(org_id=org_id, text=text, voice=voice, format=PLAY_FORMAT, language=language)
        response = await self.clients.call(self.clients.tts.Synthesize, request, self.settings.tts_timeout_seconds, call_sid)
        return response.audio

    async def speech(self, org: OrgConfig, text: str, call_sid: str, clock: StageClock | None = None, fallbacks: list[str] | None = None) -> Speech:
        if org.speech_mode == "say":
            return Speech(text)
        digest = self.signer.digest(org.org_id, org.voice, text)
        if self.cache.get(digest) is None:
            try:
                work = self.synthesise(org.org_id, org.voice, text, call_sid, org.language)
                audio_bytes = await (clock.run("tts", work) if clock else work)
            except grpc.aio.AioRpcError as error:
                reason = error.code().name
                FALLBACKS.labels("tts", reason, org.org_id).inc()
                log.warning("turn.tts_failed", reason=reason, fallback="say")
                if fallbacks is not None:
                    fallbacks.append(f"tts:{reason}")
                return Speech(text)
            self.cache.put(digest, audio_bytes)
        return Speech(text, self.signer.path(org.org_id, org.voice, text))


class TurnOrchestrator:
    def __init__(self, clients: ServiceClients, downloader: RecordingDownloader, voice: Voice, settings: GatewaySettings) -> None:
        self.clients = clients
        self.answers = AnswerPipeline(clients, settings)
        self.downloader = downloader
        self.voice = voice
        self.settings = settings

    async def run(
        self, org: OrgConfig, org_label: str, session: CallSession, recording_url: str, caller_id: str = "", digits: str = ""
    ) -> TurnResult:
        """A recorded turn; `digits` are keys the caller pressed to end the recording (0 asks for a person)."""
        clock, fallbacks, started = StageClock(org_label), [], time.perf_counter()
        dialogue = CallbackDialogue(org, session.message, caller_id)
        if digits == "0":
            result = self._dialogue_turn(session, "", dialogue.respond("", keypad_zero=True))
        else:
            result = await self._answer(org, session, recording_url, clock, fallbacks, dialogue)
        return await self._finish(org, session, result, clock, fallbacks, started)

    @staticmethod
    def _dialogue_turn(session: CallSession, text: str, step: Step) -> TurnResult:
        """A turn of message taking or a request for a person, answered without the documents."""
        session.history += [["caller", text], ["agent", step.text]] if text else [["agent", step.text]]
        outcome = "transfer" if step.transfer_to else "callback_requested" if step.callback else "message"
        return TurnResult(
            Speech(step.text), transcript=text, outcome=outcome, callback=step.callback, transfer_to=step.transfer_to, private=step.private
        )

    async def no_input(self, org: OrgConfig, org_label: str, session: CallSession) -> TurnResult:
        """The caller said nothing at all (Twilio sent no recording after its silence timeout)."""
        clock, fallbacks, started = StageClock(org_label), [], time.perf_counter()
        return await self._finish(org, session, self._silent(org, session), clock, fallbacks, started)

    async def _finish(
        self, org: OrgConfig, session: CallSession, result: TurnResult, clock: StageClock, fallbacks: list[str], started: float
    ) -> TurnResult:
        if not result.end_call and session.turns >= org.max_turns:
            result.speech.text = f"{result.speech.text} {org.goodbye_message}"
            result.speech.audio_path = None
            result.end_call, result.outcome = True, "turn_limit"
        if result.speech.audio_path is None and result.speech.text and org.speech_mode == "play":
            result.speech = await self.voice.speech(org, result.speech.text, session.call_sid, clock, fallbacks)
        elapsed = time.perf_counter() - started
        STAGE_SECONDS.labels("turn", clock.org_label).observe(elapsed)
        clock.stage_ms["turn"] = round(elapsed * 1000, 1)
        result.stage_ms, result.fallbacks = clock.stage_ms, fallbacks
        log.info("turn.done", org_id=org.org_id, outcome=result.outcome, stages_ms=clock.stage_ms, fallbacks=fallbacks, turn=session.turns)
        return result

    def _fallback(self, clock: StageClock, fallbacks: list[str], stage: str, reason: str) -> None:
        FALLBACKS.labels(stage, reason, clock.org_label).inc()
        fallbacks.append(f"{stage}:{reason}")
        log.warning("turn.fallback", stage=stage, reason=reason)

    def _silent(self, org: OrgConfig, session: CallSession) -> TurnResult:
        """Another recording timeout of silence: listen on quietly, ask once whether the caller is still there,
        then say goodbye (GATEWAY_CALLER_IDLE_SECONDS each)."""
        session.silent_seconds += self.settings.record_timeout_seconds
        action = idle_action(session.silent_seconds, session.idle_prompted, self.settings.caller_idle_seconds)
        if action is IdleAction.WAIT:
            return TurnResult(Speech(""), outcome="silence")
        if action is IdleAction.PROMPT:
            session.idle_prompted, session.silent_seconds = True, 0.0
            return TurnResult(Speech(STILL_THERE), outcome="idle_prompt")
        return TurnResult(Speech(org.goodbye_message), end_call=True, outcome="no_input")

    def _not_heard(self, org: OrgConfig, session: CallSession) -> TurnResult:
        session.empty_recordings += 1
        if session.empty_recordings >= 2:
            return TurnResult(Speech(f"I still can't hear you. {org.goodbye_message}"), end_call=True, outcome="no_input")
        return TurnResult(Speech(NOT_HEARD), outcome="not_heard")

    async def _answer(
        self, org: OrgConfig, session: CallSession, url: str, clock: StageClock, fallbacks: list[str], dialogue: CallbackDialogue
    ) -> TurnResult:
        call_sid = session.call_sid
        try:
            recording = await clock.run("download", self.downloader.download(url))
        except RecordingRefusedError as error:
            log.warning("turn.recording_refused", reason=str(error))
            self._fallback(clock, fallbacks, "download", "refused")
            return self._not_heard(org, session)
        except RecordingUnavailableError as error:
            log.warning("turn.recording_unavailable", reason=str(error))
            self._fallback(clock, fallbacks, "download", "unavailable")
            return self._not_heard(org, session)

        request = stt_pb2.TranscribeRequest(org_id=org.org_id, audio=recording, format=common_pb2.AudioFormat(), language=org.language)
        try:
            transcript = await clock.run("stt", self.clients.call(self.clients.stt.Transcribe, request, self.settings.stt_timeout_seconds, call_sid))
            add_usage(session, "stt", transcript.usage)
            text = transcript.text.strip()
        except grpc.aio.AioRpcError as error:
            # INVALID_ARGUMENT is an empty or silent recording: the caller said nothing, nothing broke.
            if error.code() == grpc.StatusCode.INVALID_ARGUMENT:
                return self._silent(org, session)
            self._fallback(clock, fallbacks, "stt", error.code().name)
            text = ""
        if not text:
            return self._not_heard(org, session)
        prompted = session.idle_prompted
        session.empty_recordings, session.silent_seconds, session.idle_prompted = 0, 0.0, False
        if prompted and says_present(text):
            session.history += [["caller", text], ["agent", HOW_CAN_I_HELP]]
            return TurnResult(Speech(HOW_CAN_I_HELP), transcript=text, outcome="idle_prompt")
        if GOODBYE_PHRASES.search(text) and not dialogue.active:
            session.history.append(["caller", text])
            return TurnResult(Speech(org.goodbye_message), end_call=True, transcript=text, outcome="caller_done")
        step = dialogue.respond(text)
        if step is not None:
            return self._dialogue_turn(session, text, step)

        answer, sources, unanswered = await self._generate(org, session, text, clock, fallbacks)
        if unanswered or any(reason.startswith("retrieval:") for reason in fallbacks):
            answer = f"{answer} {dialogue.offer()}"  # the fallback promises a callback: offer to take the message
        session.history += [["caller", text], ["agent", answer]]
        session.turns += 1
        outcome = "fallback" if fallbacks or unanswered else "answered"
        return TurnResult(Speech(answer), transcript=text, sources=sources, outcome=outcome, unanswered=unanswered)

    async def _generate(
        self, org: OrgConfig, session: CallSession, text: str, clock: StageClock, fallbacks: list[str]
    ) -> tuple[str, list[str], bool]:
        """The answer, its sources, and whether it is the org's fallback because the documents had no answer."""
        call_sid = session.call_sid
        query = search_query(text, session.history)
        try:
            retrieved = await clock.run("retrieval", self.answers.retrieve(org, query, call_sid))
        except grpc.aio.AioRpcError as error:
            self._fallback(clock, fallbacks, "retrieval", error.code().name)
            return org.fallback_message, [], False
        request = generation_request(org, text, session.history, retrieved)
        try:
            generated = await clock.run("llm", self.clients.call(self.clients.llm.Generate, request, self.settings.llm_timeout_seconds, call_sid))
            add_usage(session, "llm", generated.usage)
            return generated.text, list(generated.citations), generated.fallback
        except grpc.aio.AioRpcError as error:
            self._fallback(clock, fallbacks, "llm", error.code().name)
            return (*last_resort(org, query, retrieved), False)
