"""gRPC methods of voiceagent.v1.TextToSpeech: translate messages and errors, nothing more."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc

from services.common.generated.voiceagent.v1 import common_pb2, tts_pb2, tts_pb2_grpc
from services.common.grpc_errors import ErrorTable, abort_for
from services.common.logs import get_logger, org_id_var
from services.common.openai_client import ProviderError
from services.tts.backends.base import UnknownVoiceError
from services.tts.speech import InvalidSpeechRequestError, Speaker, SpokenAudio

log = get_logger(__name__)

_ERRORS: ErrorTable = [
    (InvalidSpeechRequestError, grpc.StatusCode.INVALID_ARGUMENT),
    (UnknownVoiceError, grpc.StatusCode.INVALID_ARGUMENT),
    (ProviderError, grpc.StatusCode.UNAVAILABLE),
]


def _format(spoken: SpokenAudio) -> common_pb2.AudioFormat:
    return common_pb2.AudioFormat(encoding=spoken.encoding, sample_rate_hz=spoken.sample_rate, channels=1)


class TextToSpeechServicer(tts_pb2_grpc.TextToSpeechServicer):
    def __init__(self, speaker: Speaker) -> None:
        self.speaker = speaker

    def _voice(self, request: tts_pb2.SynthesizeRequest) -> str:
        return request.voice or self.speaker.synthesizer.default_voice

    async def Synthesize(self, request: tts_pb2.SynthesizeRequest, context: grpc.aio.ServicerContext) -> tts_pb2.SynthesizeResponse:
        org_id_var.set(request.org_id)
        try:
            spoken = await asyncio.to_thread(
                self.speaker.synthesize,
                request.text,
                request.voice,
                request.format.encoding,
                request.format.sample_rate_hz,
                request.speaking_rate,
                request.org_id,
                request.language,
            )
        except Exception as error:
            await abort_for(context, error, _ERRORS)
        log.info("synthesize.done", characters=len(request.text), seconds=round(spoken.duration_seconds, 2))
        return tts_pb2.SynthesizeResponse(
            audio=spoken.audio,
            format=_format(spoken),
            duration_seconds=spoken.duration_seconds,
            usage=spoken.usage,
            voice=self._voice(request),
            spoken_text=spoken.spoken_text,
        )

    async def StreamSynthesize(
        self, request: tts_pb2.SynthesizeRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[tts_pb2.AudioChunk]:
        org_id_var.set(request.org_id)
        try:
            sentences = self.speaker.sentences(request.text, request.format.encoding, request.format.sample_rate_hz, request.speaking_rate)
            for sequence, sentence in enumerate(sentences):
                spoken = await asyncio.to_thread(
                    self.speaker.speak_sentence,
                    sentence,
                    request.voice,
                    request.format.encoding,
                    request.format.sample_rate_hz,
                    request.speaking_rate,
                    request.org_id,
                    request.language,
                )
                yield tts_pb2.AudioChunk(
                    audio=spoken.audio,
                    format=_format(spoken),
                    sequence=sequence,
                    text=sentence,
                    last=sequence == len(sentences) - 1,
                    usage=spoken.usage,
                    spoken_text=spoken.spoken_text,
                )
        except Exception as error:
            await abort_for(context, error, _ERRORS)
