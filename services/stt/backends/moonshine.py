"""Moonshine base-en, offline, from the weights inside the `moonshine-cpp` package.

The package's own runtime decodes about four times slower than it needs to
on a CPU (see ort_format.py), so the same encoder and decoder run here in
onnxruntime after the graphs are optimised once at load: greedy decoding
with the decoder's key/value cache, as the package does, and the same text.
"""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path

import numpy as np

from services.common.audio import Audio
from services.common.openai_client import ProviderError
from services.stt.backends.base import RECOGNIZER_RATE, Recognition

START_TOKEN, END_TOKEN = 1, 2
# Byte-fallback tokens <0x00>..<0xFF> follow <unk>, <s> and </s>.
FIRST_BYTE_TOKEN, BYTE_TOKENS = 3, 256
WORD_START = "\u2581"
# Speech runs at most about six tokens a second; the cap stops a decoder that never says </s>.
MAX_TOKENS_PER_SECOND = 6.5
MIN_TOKENS = 8


def read_vocabulary(path: Path) -> list[bytes]:
    """Moonshine's tokenizer.bin: each token's bytes, prefixed by their length (a 1-2 byte varint)."""
    data, tokens, position = path.read_bytes(), [], 0
    while position < len(data):
        length = data[position]
        position += 1
        if length >= 0x80:
            length = (length & 0x7F) | (data[position] << 7)
            position += 1
        tokens.append(data[position : position + length])
        position += length
    return tokens


class MoonshineRecognizer:
    provider = "local"

    def __init__(self) -> None:
        self._encoder = None
        self._decoder = None
        self._vocabulary: list[bytes] = []
        self._cache_names: list[str] = []
        self._empty_cache: np.ndarray | None = None
        # Sessions run one request at a time on one core: the other core serves the rest of the call.
        self._lock = threading.Lock()

    def load(self) -> None:
        import onnxruntime

        from services.stt.backends.ort_format import read_ort_model

        # Only the package's weights are used, found without importing it: its native runtime dies with SIGILL on
        # CPUs without AVX-512, and nothing of it must load into this process.
        spec = importlib.util.find_spec("moonshine_cpp")
        if spec is None or not spec.submodule_search_locations:
            raise RuntimeError("the moonshine-cpp package (Moonshine's weights) is not installed")
        weights = Path(spec.submodule_search_locations[0]) / "models" / "base-en"
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1

        def session(name: str):
            model = read_ort_model(weights / f"{name}.ort").SerializeToString()
            return onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])

        self._encoder = session("encoder_model")
        self._decoder = session("decoder_model_merged")
        self._vocabulary = read_vocabulary(weights / "tokenizer.bin")
        self._cache_names = [output.name for output in self._decoder.get_outputs()[1:]]
        _, heads, _, head_size = self._decoder.get_inputs()[2].shape  # past_key_values.0.decoder.key
        self._empty_cache = np.zeros((1, heads, 0, head_size), dtype=np.float32)

    def transcribe(self, audio: Audio, language: str) -> Recognition:
        if audio.sample_rate != RECOGNIZER_RATE:
            raise ValueError(f"Moonshine needs {RECOGNIZER_RATE} Hz audio, got {audio.sample_rate}")
        samples = np.ascontiguousarray(audio.samples, dtype=np.float32)[None, :]
        max_tokens = max(MIN_TOKENS, int(audio.duration_seconds * MAX_TOKENS_PER_SECOND))
        with self._lock:
            if self._decoder is None:
                self.load()
            try:
                tokens = self._decode(self._encoder.run(None, {"input_values": samples})[0], max_tokens)
            except Exception as error:
                if not type(error).__module__.startswith("onnxruntime"):
                    raise  # a bug here, not the engine failing: INTERNAL with a traceback, not UNAVAILABLE
                raise ProviderError(f"Moonshine failed: {error}") from error
        return Recognition(text=self._text(tokens), language="en")

    def _decode(self, encoded: np.ndarray, max_tokens: int) -> list[int]:
        """Greedy decoding. The first step computes the cross-attention cache from the audio; later steps
        reuse it and pass on the self-attention cache, so each step costs one token's work."""
        cache = {name.replace("present", "past_key_values"): self._empty_cache for name in self._cache_names}
        token, tokens = START_TOKEN, []
        for step in range(max_tokens):
            logits, *present = self._decoder.run(
                None,
                {"input_ids": np.array([[token]], dtype=np.int64), "encoder_hidden_states": encoded,
                 "use_cache_branch": np.array([step > 0]), **cache},
            )
            token = int(np.argmax(logits[0, -1]))
            if token == END_TOKEN:
                break
            tokens.append(token)
            for name, value in zip(self._cache_names, present):
                if step == 0 or ".decoder." in name:  # the cross-attention cache comes only from the first step
                    cache[name.replace("present", "past_key_values")] = value
        return tokens

    def _text(self, tokens: list[int]) -> str:
        pieces = []
        for token in tokens:
            if token < FIRST_BYTE_TOKEN:
                continue  # <unk>, <s>, </s>
            if token < FIRST_BYTE_TOKEN + BYTE_TOKENS:
                pieces.append(bytes([token - FIRST_BYTE_TOKEN]))
            elif token < len(self._vocabulary):
                pieces.append(self._vocabulary[token])
        return b"".join(pieces).decode("utf-8", errors="replace").replace(WORD_START, " ").strip()
