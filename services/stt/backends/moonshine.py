"""Moonshine base-en, offline, from the weights inside the `moonshine-cpp` package.

The package's own `transcribe(array)` helper is broken in 0.1.4 (it uses a
ctypes type that does not exist), so the library function is called here with
a float pointer to the numpy buffer.
"""

from __future__ import annotations

import ctypes
import threading

import numpy as np

from services.common.audio import Audio
from services.common.openai_client import ProviderError
from services.stt.backends.base import RECOGNIZER_RATE, Recognition


class MoonshineRecognizer:
    provider = "local"

    def __init__(self) -> None:
        self._model = None
        self._library = None
        # The native model is not documented as re-entrant: one transcription at a time.
        self._lock = threading.Lock()

    def load(self) -> None:
        import moonshine_cpp

        self._library = moonshine_cpp.moonshine_lib
        self._model = moonshine_cpp.MoonshineModel(suppress_copyright_notice=True)

    def transcribe(self, audio: Audio, language: str) -> Recognition:
        if audio.sample_rate != RECOGNIZER_RATE:
            raise ValueError(f"Moonshine needs {RECOGNIZER_RATE} Hz audio, got {audio.sample_rate}")
        if self._model is None:
            self.load()
        samples = np.ascontiguousarray(audio.samples, dtype=np.float32)
        text_pointer = ctypes.c_char_p(0)
        with self._lock:
            error = self._library.moonshine_transcribe(
                self._model.model_handle,
                samples.ctypes.data_as(ctypes.POINTER(ctypes.c_float)),
                len(samples),
                ctypes.byref(text_pointer),
            )
        if error != 0:
            raise ProviderError(f"Moonshine failed with error code {error}")
        text = (text_pointer.value or b"").decode("utf-8", errors="replace")
        self._library.moonshine_free_text(text_pointer)
        return Recognition(text=text.strip(), language="en")
