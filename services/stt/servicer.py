"""gRPC methods of voiceagent.v1.SpeechToText: translate messages and errors, nothing more."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc

from services.common.audio import LINEAR16, MULAW, Audio, AudioDecodeError, decode
from services.common.generated.voiceagent.v1 import stt_pb2, stt_pb2_grpc
from services.common.grpc_errors import ErrorTable, abort_for
from services.common.logs import get_logger, org_id_var
from services.common.openai_client import ProviderError
from services.stt.config import SttSettings
from services.stt.endpointing import Endpointer, Utterance
from services.stt.transcriber import InvalidAudioError, Transcriber

log = get_logger(__name__)

_ERRORS: ErrorTable = [
    (InvalidAudioError, grpc.StatusCode.INVALID_ARGUMENT),
    (AudioDecodeError, grpc.StatusCode.INVALID_ARGUMENT),
    (ProviderError, grpc.StatusCode.UNAVAILABLE),
]
_STREAMABLE = {MULAW: "MULAW", LINEAR16: "LINEAR16"}


def _event(kind: int, offset: float) -> stt_pb2.StreamTranscribeResponse:
    return stt_pb2.StreamTranscribeResponse(event=stt_pb2.SpeechEvent(kind=kind, offset_seconds=offset))


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

    async def _recognise(self, samples, rate: int, config: stt_pb2.StreamTranscribeConfig) -> stt_pb2.Transcript:
        return await asyncio.to_thread(self.transcriber.recognise, Audio(samples, rate), config.language, config.org_id)

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
        rate = config.format.sample_rate_hz or 8000
        endpointer = Endpointer(
            rate,
            self.settings.silence_threshold_dbfs,
            self.settings.min_speech_ms,
            config.end_of_speech_silence_ms or self.settings.end_of_speech_silence_ms,
            self.settings.max_audio_seconds,
        )
        partial_every = self.settings.partial_interval_ms / 1000
        next_partial = partial_every
        try:
            async for message in request_iterator:
                if message.WhichOneof("request") != "audio":
                    await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "only audio may follow the config")
                samples = decode(message.audio, config.format.encoding, rate).samples
                events = endpointer.feed(samples)
                if events.started_at is not None:
                    yield _event(stt_pb2.SpeechEvent.SPEECH_STARTED, events.started_at)
                    next_partial = partial_every
                for utterance in events.finished:
                    async for response in self._final(utterance, rate, config):
                        yield response
                speech = endpointer.speech_so_far()
                if config.partial_results and endpointer.in_speech and len(speech) / rate >= next_partial:
                    next_partial += partial_every
                    yield stt_pb2.StreamTranscribeResponse(partial=await self._recognise(speech, rate, config))
            leftover = endpointer.flush()
            if leftover is not None:
                async for response in self._final(leftover, rate, config):
                    yield response
        except (AudioDecodeError, ProviderError) as error:
            await abort_for(context, error, _ERRORS)

    async def _final(self, utterance: Utterance, rate: int, config) -> AsyncIterator[stt_pb2.StreamTranscribeResponse]:
        yield _event(stt_pb2.SpeechEvent.SPEECH_ENDED, utterance.end_seconds)
        transcript = await self._recognise(utterance.samples, rate, config)
        log.info("stream.utterance", seconds=round(transcript.duration_seconds, 2), characters=len(transcript.text))
        if transcript.text:
            yield stt_pb2.StreamTranscribeResponse(final=transcript)
