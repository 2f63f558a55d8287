"""Real-time calls over Twilio Media Streams: streaming speech in, sentence-by-sentence speech out, barge-in.

Twilio connects a WebSocket after `<Connect><Stream>` and sends `connected`,
`start` (with our <Parameter>s), then 20 ms `media` frames of 8 kHz mu-law,
`mark` when audio we sent has played, and `stop`. We send `media`, `mark`
after each sentence, and `clear` to drop queued audio when the caller
interrupts. The caller's audio goes to stt's StreamTranscribe; each final
transcript starts retrieval and StreamGenerate at once, and every finished
sentence goes to tts while the next one is still being generated.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import re
import time
from collections import deque
from collections.abc import AsyncIterator

import grpc
from starlette.websockets import WebSocket, WebSocketDisconnect

from services.common import audio
from services.common.generated.voiceagent.v1 import common_pb2, llm_pb2, retrieval_pb2, stt_pb2, tts_pb2
from services.common.logs import call_sid_var, get_logger, org_id_var
from services.common.orgs import OrgConfig
from services.common.sentences import best_overlap_sentence
from services.gateway.metrics import ACTIVE_CALLS, BARGE_INS, CALLS, CANCELLED_ANSWERS, FALLBACKS, STREAM_LATENCY
from services.gateway.sessions import CallSession

log = get_logger(__name__)

TELEPHONE = common_pb2.AudioFormat(encoding=audio.MULAW, sample_rate_hz=8000)
FRAME_BYTES = 160  # 20 ms of 8 kHz mu-law
# The caller counts as still talking when any of the last 100 ms of frames is this loud.
RECENT_FRAMES = 5
SPEECH_DBFS = -45.0
SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
BACKCHANNEL = re.compile(r"^\W*(mm+-?hm+|uh-?huh|yeah|yes|ok(ay)?|right|sure|mhm|hmm+)\W*$", re.IGNORECASE)
POLICY_VIOLATION = 1008

class StreamTokens:
    """Short-lived HMAC tokens that the inbound webhook mints and the WebSocket must present."""

    def __init__(self, key: str, lifetime_seconds: int) -> None:
        self._key = key.encode()
        self.lifetime_seconds = lifetime_seconds

    def _sign(self, call_sid: str, org_id: str, expires: int) -> str:
        return hmac.new(self._key, f"{call_sid}|{org_id}|{expires}".encode(), hashlib.sha256).hexdigest()

    def mint(self, call_sid: str, org_id: str) -> str:
        expires = int(time.time()) + self.lifetime_seconds
        return f"{expires}.{self._sign(call_sid, org_id, expires)}"

    def valid(self, token: str, call_sid: str, org_id: str) -> bool:
        expires, _, signature = token.partition(".")
        if not expires.isdigit() or int(expires) < time.time():
            return False
        return hmac.compare_digest(self._sign(call_sid, org_id, int(expires)), signature)


class StreamingCall:
    """One Media Streams WebSocket: the whole call, from greeting to hang-up."""

    def __init__(self, websocket: WebSocket, gateway) -> None:
        self.ws = websocket
        self.gw = gateway
        self.settings = gateway.settings
        self.stream_sid = ""
        self.org: OrgConfig | None = None
        self.session: CallSession | None = None
        self.label = "unknown"
        self.audio_in: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.answer_task: asyncio.Task | None = None
        self.barge_in_timer: asyncio.Task | None = None
        self.played: set[str] = set()
        # Sentences of the answer being spoken, with the mark that follows each.
        self.speaking: list[tuple[str, str]] = []
        self.marks_sent = 0
        self.speech_ended_at = time.perf_counter()
        self.recent_loudness: deque[bool] = deque(maxlen=RECENT_FRAMES)
        self._send_lock = asyncio.Lock()

    async def send(self, message: dict) -> None:
        async with self._send_lock:
            await self.ws.send_text(json.dumps(message))

    async def _start(self) -> dict | None:
        """Wait for Twilio's `start`; None when it never comes or does not authenticate."""
        while True:
            message = json.loads(await asyncio.wait_for(self.ws.receive_text(), timeout=10))
            if message.get("event") == "start":
                return message
            if message.get("event") != "connected":
                return None

    async def run(self) -> None:
        await self.ws.accept()
        try:
            start = await self._start()
        except (asyncio.TimeoutError, WebSocketDisconnect, ValueError):
            start = None
        details = (start or {}).get("start", {})
        parameters = details.get("customParameters", {})
        call_sid, org_id = details.get("callSid", ""), parameters.get("org_id", "")
        call_sid_var.set(call_sid)
        org = self.gw.orgs.by_id(org_id)
        if org is None or not self.gw.stream_tokens.valid(parameters.get("token", ""), call_sid, org_id):
            log.warning("stream.rejected", reason="no valid start/token")
            await self.ws.close(code=POLICY_VIOLATION)
            return
        org_id_var.set(org.org_id)
        self.org, self.label, self.stream_sid = org, self.gw.orgs.label(org.org_id), start.get("streamSid", "")
        opened = await self.gw.store.get(call_sid)
        self.session = opened or CallSession(call_sid=call_sid, org_id=org.org_id)
        log.info("stream.started", stream_sid=self.stream_sid)
        listener = asyncio.create_task(self._listen())
        self.answer_task = asyncio.create_task(self._speak_sentences(self._fixed([org.greeting]), record=False))
        outcome = "completed"
        try:
            while True:
                message = json.loads(await self.ws.receive_text())
                event = message.get("event")
                if event == "media":
                    frame = base64.b64decode(message["media"]["payload"])
                    self.recent_loudness.append(audio.rms_dbfs(audio.mulaw_decode(frame)) >= SPEECH_DBFS)
                    self.audio_in.put_nowait(frame)
                elif event == "mark":
                    self.played.add(message["mark"]["name"])
                elif event == "stop":
                    break
        except WebSocketDisconnect:
            outcome = "disconnected"
        finally:
            self.audio_in.put_nowait(None)
            for task in (self.answer_task, self.barge_in_timer, listener):
                if task is not None:
                    task.cancel()
            # The inbound webhook opened the session and counted the call as active; the stream ends it.
            if await self.gw.store.delete(call_sid) is not None and opened is not None:
                ACTIVE_CALLS.dec()
            CALLS.labels(self.label, outcome).inc()
            log.info("stream.ended", outcome=outcome, turns=self.session.turns)

    def _agent_speaking(self) -> bool:
        generating = self.answer_task is not None and not self.answer_task.done()
        queued = any(mark not in self.played for mark, _ in self.speaking)
        return generating or queued

    async def _requests(self) -> AsyncIterator[stt_pb2.StreamTranscribeRequest]:
        config = stt_pb2.StreamTranscribeConfig(
            org_id=self.org.org_id, format=TELEPHONE, language=self.org.language,
            end_of_speech_silence_ms=self.settings.stream_end_of_speech_ms,
        )
        yield stt_pb2.StreamTranscribeRequest(config=config)
        while (chunk := await self.audio_in.get()) is not None:
            yield stt_pb2.StreamTranscribeRequest(audio=chunk)

    async def _listen(self) -> None:
        metadata = [("x-call-sid", self.session.call_sid)]
        try:
            async for response in self.gw.clients.stt.StreamTranscribe(self._requests(), metadata=metadata):
                kind = response.WhichOneof("response")
                if kind == "event" and response.event.kind == stt_pb2.SpeechEvent.SPEECH_STARTED:
                    if self._agent_speaking() and (self.barge_in_timer is None or self.barge_in_timer.done()):
                        self.barge_in_timer = asyncio.create_task(self._barge_in_unless_brief())
                elif kind == "event" and response.event.kind == stt_pb2.SpeechEvent.SPEECH_ENDED:
                    self.speech_ended_at = time.perf_counter()
                    if self.barge_in_timer is not None and not self.barge_in_timer.done():
                        self.barge_in_timer.cancel()  # shorter than the rule: back-channel, keep talking
                elif kind == "final":
                    await self._on_final(response.final.text.strip())
        except grpc.aio.AioRpcError as error:
            FALLBACKS.labels("stt", error.code().name, self.label).inc()
            log.warning("stream.stt_failed", code=error.code().name)
            await self._replace_answer(self._fixed(["Sorry, I'm having trouble hearing you. Please call again later."]))

    async def _barge_in_unless_brief(self) -> None:
        """The barge-in rule: the caller is still talking `barge_in_min_speech_ms` after stt heard speech start.
        Shorter sounds ("mm-hm", "yeah", a cough) are back-channel and the agent keeps talking."""
        await asyncio.sleep(self.settings.barge_in_min_speech_ms / 1000)
        if any(self.recent_loudness):
            await self._barge_in()

    async def _barge_in(self) -> None:
        """Stop talking: drop queued audio, cancel the answer, remember only what the caller heard."""
        if not self._agent_speaking():
            return
        await self.send({"event": "clear", "streamSid": self.stream_sid})
        if self.answer_task is not None and not self.answer_task.done():
            self.answer_task.cancel()
        heard = " ".join(sentence for mark, sentence in self.speaking if mark in self.played)
        if self.session.history and self.session.history[-1][0] == "agent":
            self.session.history[-1][1] = heard
        self.speaking = []
        BARGE_INS.labels(self.label).inc()
        CANCELLED_ANSWERS.labels(self.label).inc()
        log.info("stream.barge_in", heard_characters=len(heard))

    async def _on_final(self, text: str) -> None:
        STREAM_LATENCY.labels("final_transcript", self.label).observe(time.perf_counter() - self.speech_ended_at)
        if not text or (BACKCHANNEL.match(text) and self._agent_speaking()):
            return
        if self._agent_speaking():
            await self._barge_in()
        self.session.history.append(["caller", text])
        await self._replace_answer(self._generated(text))

    async def _replace_answer(self, sentences: AsyncIterator[str]) -> None:
        if self.answer_task is not None and not self.answer_task.done():
            self.answer_task.cancel()
        self.answer_task = asyncio.create_task(self._speak_sentences(sentences, record=True))

    @staticmethod
    async def _fixed(texts: list[str]) -> AsyncIterator[str]:
        for text in texts:
            yield text

    async def _generated(self, question: str) -> AsyncIterator[str]:
        """Sentences of the answer as the llm produces them (fallbacks when a stage fails)."""
        org, call_sid, clients = self.org, self.session.call_sid, self.gw.clients
        try:
            search = retrieval_pb2.SearchRequest(org_id=org.org_id, query=question, top_k=org.top_k)
            hits = (await clients.call(clients.retrieval.Search, search, self.settings.retrieval_timeout_seconds, call_sid)).hits
        except grpc.aio.AioRpcError as error:
            FALLBACKS.labels("retrieval", error.code().name, self.label).inc()
            yield org.fallback_message
            return
        request = llm_pb2.GenerateRequest(
            org_id=org.org_id, org_name=org.name, persona=org.persona, fallback_message=org.fallback_message, question=question,
            history=[
                llm_pb2.ConversationTurn(role=llm_pb2.ConversationTurn.CALLER if role == "caller" else llm_pb2.ConversationTurn.AGENT, text=said)
                for role, said in self.session.history[:-1]
            ],
            context=[llm_pb2.ContextChunk(text=h.text, document=h.document, chunk_id=h.chunk_id, score=h.score) for h in hits],
        )
        pending, first = "", True
        try:
            stream = clients.llm.StreamGenerate(request, timeout=self.settings.llm_timeout_seconds, metadata=[("x-call-sid", call_sid)])
            async for delta in stream:
                if delta.done:
                    break
                if first:
                    STREAM_LATENCY.labels("first_token", self.label).observe(time.perf_counter() - self.speech_ended_at)
                    first = False
                pending += delta.text
                *complete, pending = SENTENCE_END.split(pending)
                for sentence in complete:
                    yield sentence
        except grpc.aio.AioRpcError as error:
            FALLBACKS.labels("llm", error.code().name, self.label).inc()
            if first:
                sentence = best_overlap_sentence(question, ((h.text, h.chunk_id) for h in hits))
                yield sentence.text if sentence else org.fallback_message
                return
        if pending.strip():
            yield pending.strip()

    async def _speak_sentences(self, sentences: AsyncIterator[str], record: bool) -> None:
        spoken: list[str] = []
        self.speaking = []
        if record:
            self.session.history.append(["agent", ""])
        first_audio = first_frame = True
        async for sentence in sentences:
            request = tts_pb2.SynthesizeRequest(org_id=self.org.org_id, text=sentence, voice=self.org.voice, format=TELEPHONE)
            try:
                chunks = self.gw.clients.tts.StreamSynthesize(
                    request, timeout=self.settings.tts_timeout_seconds, metadata=[("x-call-sid", self.session.call_sid)]
                )
                async for chunk in chunks:
                    if first_audio and record:
                        STREAM_LATENCY.labels("first_audio", self.label).observe(time.perf_counter() - self.speech_ended_at)
                        first_audio = False
                    for start in range(0, len(chunk.audio), FRAME_BYTES):
                        payload = base64.b64encode(chunk.audio[start : start + FRAME_BYTES]).decode()
                        await self.send({"event": "media", "streamSid": self.stream_sid, "media": {"payload": payload}})
                        if first_frame and record:
                            STREAM_LATENCY.labels("first_frame_sent", self.label).observe(time.perf_counter() - self.speech_ended_at)
                            first_frame = False
            except grpc.aio.AioRpcError as error:
                # A stream cannot <Say>: end it, and Twilio speaks the fallback that follows <Connect>.
                FALLBACKS.labels("tts", error.code().name, self.label).inc()
                log.warning("stream.tts_failed", code=error.code().name, fallback="twiml_after_connect")
                await self.ws.close()
                return
            self.marks_sent += 1
            mark = f"m{self.marks_sent}"
            self.speaking.append((mark, sentence))
            spoken.append(sentence)
            await self.send({"event": "mark", "streamSid": self.stream_sid, "mark": {"name": mark}})
            if record:
                self.session.history[-1][1] = " ".join(spoken)
        if record:
            self.session.turns += 1
            await self.gw.store.put(self.session)
