"""gRPC methods of voiceagent.v1.SpeechToText: translate messages and errors, nothing more."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc

from services.common.audio import LINEAR16, MULAW, Audio, AudioDecodeError, check_sample_rate, decode
from services.common.generated.voiceagent.v1 import stt_pb2, stt_pb2_grpc
from services.common.grpc_errors import ErrorTable, abort_for
from services.common.logs import get_logger, org_id_var
from services.common.openai_client import ProviderError
from services.common.vad import VoiceActivity
from services.stt.config import SttSettings
from services.stt.endpointing import Endpointer
from services.stt.live import LiveTranscription
from services.stt.transcriber import InvalidAudioError, Transcriber

log = get_logger(__name__)

_ERRORS: ErrorTable = [
    (InvalidAudioError, grpc.StatusCode.INVALID_ARGUMENT),
    (AudioDecodeError, grpc.StatusCode.INVALID_ARGUMENT),
    (ProviderError, grpc.StatusCode.UNAVAILABLE),
]
_STREAMABLE = {MULAW: "MULAW", LINEAR16: "LINEAR16"}


class SpeechToTextServicer(stt_pb2_grpc.SpeechToTextServicer):
    def __init__(self, transcriber: Transcriber, settings: SttSettings) -> None:
        self.transcriber = transcriber
        self.settings = settings

    async def Transcribe(self, request: stt_pb2.TranscribeRequest, context: grpc.aio.ServicerContext) -> stt_pb2.Transcript:
        org_id_var.set(request.org_id)
        try:
            transcript = await asyncio.to_thread(
                self.transcriber.transcribe,
                request.audio,
                request.format.encoding,
                request.format.sample_rate_hz,
                request.language,
                request.org_id,
            )
        except Exception as error:
            await abort_for(context, error, _ERRORS)
        log.info("transcribe.done", seconds=round(transcript.duration_seconds, 2), characters=len(transcript.text))
        return transcript

    async def StreamTranscribe(
        self, request_iterator: AsyncIterator[stt_pb2.StreamTranscribeRequest], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[stt_pb2.StreamTranscribeResponse]:
        first = await anext(aiter(request_iterator), None)
        if first is None or first.WhichOneof("request") != "config":
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "the first message must be the stream config")
        config = first.config
        org_id_var.set(config.org_id)
        if config.format.encoding not in _STREAMABLE:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "streaming audio must be MULAW or LINEAR16 (raw frames)")
        try:
            rate = check_sample_rate(config.format.sample_rate_hz) or 8000
        except AudioDecodeError as error:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))
        endpointer = Endpointer(
            rate,
            VoiceActivity(rate, self.settings.vad_threshold).feed,
            self.settings.min_speech_ms,
            config.end_of_speech_silence_ms or self.settings.end_of_speech_silence_ms,
            min(self.settings.max_turn_seconds, self.settings.max_audio_seconds),
            pause_ms=config.tentative_pause_ms,
            incomplete_silence_ms=config.incomplete_turn_silence_ms,
        )

        async def recognise(samples) -> stt_pb2.Transcript:
            transcript = await asyncio.to_thread(self.transcriber.recognise, Audio(samples, rate), config.language, config.org_id)
            log.info("stream.recognised", seconds=round(transcript.duration_seconds, 2), characters=len(transcript.text))
            return transcript

        partial_every = self.settings.partial_interval_ms / 1000 if config.partial_results else None
        live = LiveTranscription(endpointer, recognise, rate, partial_every)

        async def consume_audio() -> None:
            try:
                async for message in request_iterator:
                    if message.WhichOneof("request") != "audio":
                        raise InvalidAudioError("only audio may follow the stream config")
                    await live.feed(decode(message.audio, config.format.encoding, rate).samples)
                await live.finish()
            finally:
                live.responses.put_nowait(None)

        # Audio keeps being read (and pauses noticed) while a tentative recognition is under way.
        reader = asyncio.create_task(consume_audio())
        try:
            while (response := await live.responses.get()) is not None:
                yield response
            await reader
        except Exception as error:
            await abort_for(context, error, _ERRORS)
        finally:
            reader.cancel()
