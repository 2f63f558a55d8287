"""Real-time calls over Twilio Media Streams: streaming speech in, sentence-by-sentence speech out, barge-in.

Twilio connects a WebSocket after `<Connect><Stream>` and sends `connected`,
`start` (with our <Parameter>s), then 20 ms `media` frames of 8 kHz mu-law,
`mark` when audio we sent has played, `dtmf` for keypresses, and `stop`. We
send `media`, a `mark` after each sentence, and `clear` to drop queued audio
when the caller interrupts. The caller's audio goes to stt's
StreamTranscribe. A tentative transcript (the caller paused) starts
retrieval, generation and synthesis of an answer that is held back; the final
transcript releases it, or starts a new one if the words differ.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from bisect import bisect_left
from collections import deque
from collections.abc import AsyncIterator

import grpc
from starlette.websockets import WebSocket, WebSocketDisconnect

from services.common import media_streams
from services.common.answering import generation_request, last_resort, search_query
from services.common.generated.voiceagent.v1 import stt_pb2
from services.common.logs import call_sid_var, get_logger, org_id_var
from services.common.orgs import OrgConfig
from services.common.sentences import complete_sentences
from services.gateway import twiml
from services.gateway.answers import AnswerPipeline
from services.gateway.barge_in import BargeInPolicy, Decision
from services.gateway.call_control import CallControlError
from services.gateway.call_log import add_usage
from services.gateway.callbacks import NO_ONE_AVAILABLE, OFFER, CallbackDialogue
from services.gateway.idle import HOW_CAN_I_HELP, STILL_THERE, IdleAction, idle_action, says_present
from services.gateway.metrics import ACTIVE_CALLS, BARGE_INS, CALLS, CANCELLED_ANSWERS, FALLBACKS, MALFORMED_STREAM_MESSAGES
from services.gateway.replies import TELEPHONE, AnswerNotes, Milestones, Reply, Voice
from services.gateway.security import public_url
from services.gateway.sessions import CallSession

log = get_logger(__name__)

POLICY_VIOLATION = 1008
# Malformed messages tolerated on one call before it is ended as a protocol error.
MAX_MALFORMED_MESSAGES = 50
SpeechEvent = stt_pb2.SpeechEvent


class InboundClock:
    """When each moment of the caller's audio reached us, so turns are timed from the end of their speech.

    stt reports where speech ended as an offset into the audio it was sent; this maps the offset back to the
    wall-clock arrival of that audio. A minute of frames is kept: far longer than any end-of-speech wait."""

    def __init__(self, window_frames: int = 3000) -> None:
        self.seconds = 0.0
        self._arrivals: deque[tuple[float, float]] = deque(maxlen=window_frames)

    def received(self, frame: bytes) -> None:
        self.seconds += len(frame) / TELEPHONE.sample_rate_hz  # mu-law: one byte per sample
        self._arrivals.append((self.seconds, time.perf_counter()))

    def arrival_of(self, offset_seconds: float) -> float:
        index = bisect_left(self._arrivals, offset_seconds - 1e-6, key=lambda arrival: arrival[0])
        return self._arrivals[index][1] if index < len(self._arrivals) else time.perf_counter()


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
        self.voice: Voice | None = None
        self.audio_in: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.clock = InboundClock()
        # What the agent is saying (or said last), and an answer held back until the caller's pause is confirmed.
        self.reply: Reply | None = None
        self.prepared: Reply | None = None
        self.barge_in = BargeInPolicy(self.settings.barge_in_min_speech_ms / 1000)
        self.barge_in_timer: asyncio.Task | None = None
        self.transfer: asyncio.Task | None = None
        self.ending: asyncio.Task | None = None
        self.played: set[str] = set()
        self.handed_back = False
        # How the gateway itself ended the call ("caller_idle"), when it did.
        self.ended_by_agent = ""
        self.idle_prompted = False
        # The last thing the agent asked was "are you still there?": a "yes, I'm here" is answered as such.
        self.asked_if_present = False
        self.last_activity = time.perf_counter()
        self.speech_ended_at = time.perf_counter()
        self._send_lock = asyncio.Lock()

    async def send(self, message: dict) -> None:
        async with self._send_lock:
            try:
                await self.ws.send_text(json.dumps({**message, "streamSid": self.stream_sid}))
            except (WebSocketDisconnect, RuntimeError):
                pass  # the caller hung up or the stream was handed back: nobody can hear it, and `run` ends the call

    async def _next_message(self) -> media_streams.InboundMessage:
        """Twilio's next message, validated; WebSocketDisconnect when the caller is gone, TimeoutError when
        nothing came for `stream_idle_seconds`, MediaStreamError for anything malformed."""
        received = await asyncio.wait_for(self.ws.receive(), timeout=self.settings.stream_idle_seconds)
        if received.get("type") == "websocket.disconnect":
            raise WebSocketDisconnect(received.get("code", 1000))
        return media_streams.parse(received.get("text"))

    async def _start(self) -> media_streams.Start | None:
        """Wait for Twilio's `start`; None (with the reason logged once) when anything else comes first."""
        try:
            while True:
                message = await self._next_message()
                if isinstance(message, media_streams.Start):
                    return message
                if not isinstance(message, media_streams.Connected):
                    raise media_streams.MediaStreamError("the first messages must be connected and start")
        except (TimeoutError, WebSocketDisconnect, media_streams.MediaStreamError) as error:
            log.warning("stream.rejected", reason=str(error) or type(error).__name__)
            return None

    async def run(self) -> None:
        await self.ws.accept()
        start = await self._start()
        parameters = start.parameters if start else {}
        call_sid, org_id = (start.call_sid if start else ""), parameters.get("org_id", "")
        call_sid_var.set(call_sid)
        org = self.gw.orgs.by_id(org_id) if start else None
        # The stream must belong to the call the inbound webhook answered, with the token it minted for that call.
        same_call = parameters.get("call_sid") == call_sid
        token = parameters.get("token", "")
        if org is None or not same_call or not self.gw.stream_tokens.valid(token, call_sid, org_id):
            if start is not None:
                log.warning("stream.rejected", reason="no valid start/token")
            await self._close(POLICY_VIOLATION)
            return
        # A token opens one stream once: a second socket for the call, or a replay after `stop`, is refused.
        if not await self.gw.store.claim(f"stream-token:{hashlib.sha256(token.encode()).hexdigest()}", self.settings.stream_token_seconds):
            log.warning("stream.rejected", reason="token already used")
            await self.ws.close(code=POLICY_VIOLATION)
            return
        org_id_var.set(org.org_id)
        self.org, self.label, self.stream_sid = org, self.gw.orgs.label(org.org_id), start.stream_sid
        # Where Twilio reaches this gateway (for the callbacks of a transfer): the stream's own public URL.
        stream_url = public_url(self.ws, self.settings)
        self.base_url = stream_url[: stream_url.rindex("/voice/stream")].replace("ws", "http", 1)
        opened = await self.gw.store.get(call_sid)
        self.session = opened or CallSession(call_sid=call_sid, org_id=org.org_id)
        self.voice = Voice(
            tts=self.gw.clients.tts, org_id=org.org_id, voice=org.voice, call_sid=call_sid, language=org.language,
            timeout_seconds=self.settings.tts_timeout_seconds, org_label=self.label,
            send=self.send, hand_back=self._hand_back, answered=self._answered,
        )
        log.info("stream.started", stream_sid=self.stream_sid)
        listener = asyncio.create_task(self._listen())
        idle_watch = asyncio.create_task(self._watch_idle())
        self._speak(Reply(self.voice, _fixed([org.greeting])))
        outcome = "completed"
        try:
            outcome = await self._receive()
        finally:
            self.audio_in.put_nowait(None)
            for task in (self.barge_in_timer, listener, idle_watch, self.transfer, self.ending):
                if task is not None:
                    task.cancel()
            for reply in (self.reply, self.prepared):
                if reply is not None:
                    reply.cancel()
            CALLS.labels(self.label, outcome).inc()
            if outcome == "transferred":
                # The call goes on without the stream: /voice/handoff-ended may take a message (as a turn-based
                # call, with this session's caller and turn count) and the final status callback ends it.
                self.session.outcome = outcome
                await self.gw.store.put(self.session)
            else:
                # The inbound webhook opened the session and counted the call as active; the stream ends it, unless
                # Twilio's final status callback already did (then the call's end is recorded there).
                ended = await self.gw.store.delete(call_sid)
                if ended is not None and opened is not None:
                    ACTIVE_CALLS.dec()
                if ended is not None or opened is None:
                    self.gw.call_log.ended(self.session, self.label, outcome)
            log.info("stream.ended", outcome=outcome, turns=self.session.turns)

    async def _receive(self) -> str:
        """Twilio's messages until `stop` ("completed"), a dropped connection ("disconnected"), silence on the
        socket for `stream_idle_seconds` ("idle_timeout") or too many malformed messages ("protocol_error")."""
        malformed = 0
        try:
            while True:
                try:
                    message = await self._next_message()
                except media_streams.MediaStreamError as error:
                    # One bad message is ignored (and counted); a stream of them ends the call.
                    malformed += 1
                    MALFORMED_STREAM_MESSAGES.inc()
                    if malformed == 1:
                        log.warning("stream.malformed_message", reason=str(error))
                    if malformed > MAX_MALFORMED_MESSAGES:
                        await self._close(POLICY_VIOLATION)
                        return "protocol_error"
                    continue
                if isinstance(message, media_streams.Media):
                    frame = message.payload
                    self.clock.received(frame)
                    self.audio_in.put_nowait(frame)
                elif isinstance(message, media_streams.Mark):
                    self.played.add(message.name)
                elif isinstance(message, media_streams.Dtmf):
                    # 0 asks for a person; other keys are not part of the conversation (and are never logged: a
                    # caller may be keying in a card number).
                    if message.digit == "0":
                        await self._dialogue_turn("", keypad_zero=True)
                    else:
                        log.info("stream.dtmf_ignored")
                elif isinstance(message, media_streams.Stop):
                    return self.ended_by_agent or "completed"
        except TimeoutError:
            await self._close(1000)
            return "idle_timeout"
        except WebSocketDisconnect:
            return self.ended_by_agent or ("handed_back" if self.handed_back else "disconnected")

    async def _close(self, code: int) -> None:
        try:
            await self.ws.close(code=code)
        except RuntimeError:
            pass  # already closed by the other side

    async def _hand_back(self) -> None:
        """Close the stream: Twilio goes on with the TwiML after <Connect>, the org's fallback spoken by Twilio
        itself and a hang-up. For a stage the call cannot go on without (stt, tts)."""
        if not self.handed_back:
            self.handed_back = True
            try:
                await self.ws.close()
            except RuntimeError:
                pass  # the caller had already hung up

    async def _watch_idle(self) -> None:
        """A caller silent for GATEWAY_CALLER_IDLE_SECONDS (the agent quiet too) is asked once whether they are
        still there; silent as long again, they hear the org's goodbye and the call ends."""
        limit = self.settings.caller_idle_seconds
        while True:
            await asyncio.sleep(min(0.25, limit / 4))
            now = time.perf_counter()
            if self.barge_in.caller_speaking or self.prepared is not None or self._agent_speaking():
                self.last_activity = now
                continue
            action = idle_action(now - self.last_activity, self.idle_prompted, limit)
            if action is IdleAction.PROMPT:
                self.idle_prompted, self.asked_if_present, self.last_activity = True, True, now
                log.info("stream.caller_idle", action="prompt")
                self._speak(Reply(self.voice, _fixed([STILL_THERE])))
            elif action is IdleAction.HANG_UP:
                log.info("stream.caller_idle", action="hang_up")
                await self._say_goodbye("caller_idle")
                return

    async def _say_goodbye(self, outcome: str) -> None:
        """Say the org's goodbye, let it play, and end the call: Twilio is told (via /voice/stream-ended) to hang
        up rather than speak the fallback that follows a stream the gateway could not continue."""
        goodbye = Reply(self.voice, _fixed([self.org.goodbye_message]))
        self._speak(goodbye)
        deadline = time.perf_counter() + self.settings.tts_timeout_seconds + 10
        while self._agent_speaking() and time.perf_counter() < deadline:
            await asyncio.sleep(0.05)
        self.ended_by_agent = outcome
        await self.gw.store.claim(stream_end_key(self.session.call_sid), self.settings.stream_token_seconds)
        await self._close(1000)

    async def _answered(self, reply: Reply) -> None:
        self.session.turns += 1
        self._record_turn(reply, reply.entry[1], barge_in=False)
        await self.gw.store.put(self.session)
        if self.settings.turn_details_header:
            # For the local call simulator only (it carries what the caller said): the turn as the gateway saw it.
            details = {"caller": reply.question[:2000], "agent": reply.entry[1][:4000], "sources": reply.notes.sources[:20],
                       "fallbacks": reply.notes.fallbacks}
            await self.send(media_streams.mark("turn:" + json.dumps(details)))
        if self.session.turns >= self.org.max_turns and self.ending is None:
            # Its own task: this runs inside the reply that just finished, which speaking the goodbye replaces.
            self.ending = asyncio.create_task(self._say_goodbye("turn_limit"))

    def _record_turn(self, reply: Reply, said: str, barge_in: bool) -> None:
        """The turn for the call store: what the caller asked, what they heard of the answer (all of it, or up to
        where they talked over it), its sources, fallbacks and milestones. An answer that ended on the offer to
        take a message opens that dialogue."""
        notes = reply.notes
        latency = reply.milestones.as_ms() if reply.milestones else {}
        reply.turn_index = self.gw.call_log.turn(
            self.session, reply.question, said, notes.sources, notes.reasons(), latency, barge_in, index=reply.turn_index,
            private=notes.private,
        )
        if notes.offered and OFFER in said:  # only an offer the caller heard opens the dialogue
            CallbackDialogue(self.org, self.session.message, self.session.caller).offer()

    def _agent_speaking(self) -> bool:
        if self.reply is None:
            return False
        return not self.reply.task.done() or any(mark not in self.played for mark, _ in self.reply.marks)

    def _speak(self, reply: Reply, entry: list[str] | None = None) -> None:
        if self.reply is not None:
            self.reply.cancel()
        self.reply = reply
        reply.release(entry)

    async def _requests(self) -> AsyncIterator[stt_pb2.StreamTranscribeRequest]:
        config = stt_pb2.StreamTranscribeConfig(
            org_id=self.org.org_id, format=TELEPHONE, language=self.org.language,
            end_of_speech_silence_ms=self.settings.stream_end_of_speech_ms,
            tentative_pause_ms=self.settings.stream_tentative_pause_ms,
            incomplete_turn_silence_ms=self.settings.stream_incomplete_turn_ms,
        )
        yield stt_pb2.StreamTranscribeRequest(config=config)
        while (chunk := await self.audio_in.get()) is not None:
            yield stt_pb2.StreamTranscribeRequest(audio=chunk)

    async def _listen(self) -> None:
        metadata = [("x-call-sid", self.session.call_sid)]
        try:
            async for response in self.gw.clients.stt.StreamTranscribe(self._requests(), metadata=metadata):
                kind = response.WhichOneof("response")
                if kind == "event":
                    self._on_event(response.event)
                elif kind == "tentative":
                    self._on_tentative(response.tentative.text.strip())
                elif kind == "final":
                    add_usage(self.session, "stt", response.final.usage)
                    await self._on_final(response.final.text.strip())
        except grpc.aio.AioRpcError as error:
            FALLBACKS.labels("stt", error.code().name, self.label).inc()
            log.warning("stream.stt_failed", code=error.code().name, fallback="twiml_after_connect")
            await self._hand_back()
        except Exception:
            # A bug must not leave the caller in silence: hand the call back for the spoken fallback.
            log.exception("stream.listener_crashed", fallback="twiml_after_connect")
            await self._hand_back()

    def _on_event(self, event: stt_pb2.SpeechEvent) -> None:
        if event.kind in (SpeechEvent.SPEECH_STARTED, SpeechEvent.SPEECH_RESUMED):
            if event.kind == SpeechEvent.SPEECH_RESUMED:
                self._drop_prepared()  # the pause was not the end of the turn
            self.barge_in.speech_started(time.perf_counter())
            self.idle_prompted = False
            if self._agent_speaking() and (self.barge_in_timer is None or self.barge_in_timer.done()):
                self.barge_in_timer = asyncio.create_task(self._barge_in_unless_brief())
        elif event.kind in (SpeechEvent.SPEECH_PAUSED, SpeechEvent.SPEECH_ENDED):
            self.barge_in.speech_stopped()
            if event.kind == SpeechEvent.SPEECH_ENDED:
                self.speech_ended_at = self.clock.arrival_of(event.offset_seconds)

    def _drop_prepared(self) -> None:
        if self.prepared is not None:
            self.prepared.cancel()
            self.prepared = None

    def _on_tentative(self, text: str) -> None:
        """Prepare the answer while the pause is confirmed; while the agent talks, barge-in rules apply instead."""
        self._drop_prepared()
        if text and not self._agent_speaking():
            self.prepared = self._answer(text)

    async def _barge_in_unless_brief(self) -> None:
        """Asks the barge-in policy once the caller has had `barge_in_min_speech_ms` to stop (back-channel), and
        again while their speech keeps restarting after short pauses."""
        wait = self.settings.barge_in_min_speech_ms / 1000
        while True:
            await asyncio.sleep(wait)
            decision = self.barge_in.check(time.perf_counter(), self._agent_speaking())
            if decision is Decision.CLEAR:
                await self._barge_in()
            wait = self.barge_in.remaining(time.perf_counter())
            if decision is not Decision.KEEP or wait is None:
                return

    async def _barge_in(self) -> None:
        """Stop talking: drop queued audio, cancel the answer, remember only what the caller heard."""
        reply = self.reply
        if not self._agent_speaking():
            return
        await self.send(media_streams.clear())
        reply.cancel()
        if reply.entry is not None:
            reply.entry[1] = " ".join(sentence for mark, sentence in reply.marks if mark in self.played)
        heard_characters = len(reply.entry[1]) if reply.entry is not None else 0
        if reply.entry is not None:
            self._record_turn(reply, reply.entry[1], barge_in=True)  # the same turn, as far as it was heard
        reply.marks.clear()
        BARGE_INS.labels(self.label).inc()
        CANCELLED_ANSWERS.labels(self.label).inc()
        log.info("stream.barge_in", heard_characters=heard_characters)

    async def _on_final(self, text: str) -> None:
        prepared, self.prepared = self.prepared, None
        decision = self.barge_in.transcript(text, self._agent_speaking())
        if prepared is not None and (decision is Decision.IGNORE or prepared.question != text):
            prepared.cancel()
            prepared = None
        if decision is Decision.IGNORE:
            return
        if decision is Decision.CLEAR:
            await self._barge_in()
        if self.asked_if_present and says_present(text):
            self.asked_if_present = False
            if prepared is not None:
                prepared.cancel()
            entry = ["agent", ""]
            self.session.history += [["caller", text], entry]
            self._speak(Reply(self.voice, _fixed([HOW_CAN_I_HELP]), question=text), entry)
            return
        self.asked_if_present = False
        if await self._dialogue_turn(text, prepared=prepared):
            return
        reply = prepared or self._answer(text)
        reply.milestones.reach("final_transcript")
        reply.milestones.speech_ended(self.speech_ended_at)
        entry = ["agent", ""]
        self.session.history += [["caller", text], entry]
        self._speak(reply, entry)

    async def _dialogue_turn(self, text: str, keypad_zero: bool = False, prepared: Reply | None = None) -> bool:
        """Message taking or a request for a person (services/gateway/callbacks.py): True when this turn was one."""
        if self.transfer is not None and not self.transfer.done():
            return True  # already connecting the caller: a second request changes nothing
        dialogue = CallbackDialogue(self.org, self.session.message, self.session.caller)
        step = dialogue.respond(text, keypad_zero=keypad_zero)
        if step is None:
            return False
        if prepared is not None:
            prepared.cancel()
        if self._agent_speaking():
            await self._barge_in()
        if step.callback is not None:
            self.gw.call_log.callback(self.session, self.label, step.callback)
        entry = ["agent", ""]
        self.session.history += ([["caller", text]] if text else []) + [entry]
        reply = Reply(self.voice, _fixed([step.text]), question=text, notes=AnswerNotes(private=step.private))
        self._speak(reply, entry)
        if step.transfer_to is not None:
            trigger = "keypad" if keypad_zero else "asked"
            self.transfer = asyncio.create_task(self._transfer(reply, step.transfer_to, trigger))
        return True

    async def _transfer(self, announcement: Reply, number: str, trigger: str) -> None:
        """Once "connecting you" has played (or the caller talked over it), redirect the live call to a <Dial>,
        which ends this stream. If Twilio will not take it, the caller is offered a message instead."""
        await asyncio.wait([announcement.task])  # never raises: a barge-in over the announcement does not stop this
        while self._agent_speaking():
            await asyncio.sleep(0.05)
        # Set first: Twilio may end the stream before its REST answer reaches us.
        self.ended_by_agent = "transferred"
        try:
            await self.gw.call_control.redirect(self.session.call_sid, twiml.dial(number, self.base_url))
            self.gw.call_log.handoff(self.session, self.label, number, trigger)
        except CallControlError:
            self.ended_by_agent = ""
            self.gw.call_log.handoff_unanswered(self.label)
            self.session.message.clear()
            self.session.message.update(step="name", reason="transfer_failed")
            self._speak(Reply(self.voice, _fixed([NO_ONE_AVAILABLE])), ["agent", ""])

    def _answer(self, question: str) -> Reply:
        """The answer to `question`, generated and synthesised from now on, heard once released. The history
        it is given is the conversation before the question."""
        milestones, notes = Milestones(self.label), AnswerNotes()
        sentences = self._answer_sentences(question, list(self.session.history), milestones, notes)
        return Reply(self.voice, sentences, milestones, question, notes)

    async def _answer_sentences(self, question: str, history: list[list[str]], milestones: Milestones, notes: AnswerNotes) -> AsyncIterator[str]:
        """Sentences of the answer as the llm produces them (fallbacks when a stage fails)."""
        org, call_sid, clients = self.org, self.session.call_sid, self.gw.clients
        answers = AnswerPipeline(clients, self.settings)
        query = search_query(question, history)
        try:
            retrieved = await answers.retrieve(org, query, call_sid)
        except grpc.aio.AioRpcError as error:
            FALLBACKS.labels("retrieval", error.code().name, self.label).inc()
            notes.fallbacks.append(f"retrieval:{error.code().name}")
            log.warning("stream.retrieval_failed", code=error.code().name)
            yield org.fallback_message
            notes.offered = True
            yield OFFER
            return
        request = generation_request(org, question, history, retrieved)
        pending, first = "", True
        try:
            stream = clients.llm.StreamGenerate(request, timeout=self.settings.llm_timeout_seconds, metadata=[("x-call-sid", call_sid)])
            async for delta in stream:
                if delta.done:
                    notes.sources.extend(delta.response.citations)
                    notes.unanswered = delta.response.fallback
                    add_usage(self.session, "llm", delta.response.usage)
                    break
                milestones.reach("first_token")
                first = False
                pending += delta.text
                complete, pending = complete_sentences(pending)
                for sentence in complete:
                    yield sentence
        except grpc.aio.AioRpcError as error:
            FALLBACKS.labels("llm", error.code().name, self.label).inc()
            notes.fallbacks.append(f"llm:{error.code().name}")
            log.warning("stream.llm_failed", code=error.code().name, mid_answer=not first)
            if first:
                text, sources = last_resort(org, query, retrieved)
                notes.sources.extend(sources)
                yield text
                return
        if pending.strip():
            yield pending.strip()
        if notes.unanswered:
            notes.offered = True  # the fallback promises a callback: offer to take the message
            yield OFFER


def stream_end_key(call_sid: str) -> str:
    """Claimed by whoever first decides how a streaming call ends: the stream (a polite goodbye, so Twilio
    hangs up) or /voice/stream-ended (the stream broke off, so Twilio speaks the fallback)."""
    return f"stream-end:{call_sid}"


async def _fixed(texts: list[str]) -> AsyncIterator[str]:
    for text in texts:
        yield text
