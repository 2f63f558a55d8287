"""Caller turns as a phone line carries them: Piper speech, pauses, background noise, 8 kHz mu-law.

Each utterance is synthesised part by part, so where the caller stops and
goes on is known exactly: the truth the endpointer is judged against. Noise
is added to the whole call (it is there before, during and after speech):
white noise, or babble made from other synthesised sentences mixed at a low
level, at a given RMS level in dBFS.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from services.common import audio

HERE = Path(__file__).resolve().parent
RATE = 8000
LEAD_SECONDS = 0.6
TAIL_SECONDS = 2.5
# Where synthesised speech starts and ends: the first and last 10 ms louder than this (the clean signal's truth).
TRIM_DBFS = -50.0
CONDITIONS = ("quiet", "white -45", "white -35", "white -30", "babble -45", "babble -35", "babble -30")


@dataclass(frozen=True)
class Utterance:
    kind: str  # complete, hesitation or trailing
    parts: tuple[str, ...]
    pause_ms: int = 0

    @property
    def text(self) -> str:
        return " ".join(self.parts)


@dataclass
class Turn:
    """One caller turn on the line: its samples and, in seconds from the start, where each part's speech ends
    and the next begins (a turn that ends inside one of these pauses cut the caller off)."""

    utterance: Utterance
    samples: np.ndarray
    pauses: list[tuple[float, float]]
    speech_end: float

    def mulaw(self) -> bytes:
        return audio.mulaw_encode(self.samples)


def load_set(name: str) -> list[Utterance]:
    entries = json.loads((HERE / f"utterances_{name}.json").read_text())["utterances"]
    return [Utterance(entry["kind"], tuple(entry["parts"]), entry.get("pause_ms", 0)) for entry in entries]


@cache
def _voice():
    from services.tts.backends.piper import PiperSynthesizer

    voice = PiperSynthesizer()
    voice.load()
    return voice


@cache
def speech(text: str) -> np.ndarray:
    """`text` spoken, at 8 kHz, trimmed to where the voice is audible."""
    spoken = _voice().synthesize(text, "", 1.0).resampled(RATE).samples
    frame = RATE // 100
    loud = [i for i in range(0, len(spoken) - frame, frame) if audio.rms_dbfs(spoken[i : i + frame]) >= TRIM_DBFS]
    return spoken[loud[0] : loud[-1] + frame] if loud else spoken[:0]


def _silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * RATE), dtype=np.float32)


def turn(utterance: Utterance) -> Turn:
    pieces, pauses, position = [_silence(LEAD_SECONDS)], [], LEAD_SECONDS
    for index, part in enumerate(utterance.parts):
        if index:
            pieces.append(_silence(utterance.pause_ms / 1000))
            pauses.append((position, position + utterance.pause_ms / 1000))
            position += utterance.pause_ms / 1000
        spoken = speech(part)
        pieces.append(spoken)
        position += len(spoken) / RATE
    pieces.append(_silence(TAIL_SECONDS))
    return Turn(utterance, np.concatenate(pieces), pauses, position)


def _at_level(signal: np.ndarray, dbfs: float) -> np.ndarray:
    rms = float(np.sqrt(np.mean(np.square(signal, dtype=np.float64))))
    return (signal * (10 ** (dbfs / 20) / rms)).astype(np.float32) if rms > 0 else signal


@cache
def _babble_bed(seconds: int) -> np.ndarray:
    """Four voices talking at once, offset from each other: a room of other people."""
    sentences = [
        "The weather has been lovely this week, we went to the beach twice.",
        "I told him the meeting was moved to Thursday afternoon.",
        "Could you pass me the menu, I think I will have the soup.",
        "They are building a new station on the other side of town.",
    ]
    length = seconds * RATE
    bed = np.zeros(length, dtype=np.float32)
    for index, sentence in enumerate(sentences):
        voice = np.tile(speech(sentence), length // max(1, len(speech(sentence))) + 2)
        offset = index * RATE // 3
        bed += voice[offset : offset + length]
    return bed


def noisy(turn: Turn, condition: str, seed: int = 0) -> Turn:
    """The same turn under a background condition ("quiet", "white -35", "babble -30")."""
    if condition == "quiet":
        return turn
    kind, level = condition.split()
    length = len(turn.samples)
    if kind == "white":
        noise = np.random.default_rng(seed).normal(0, 1, length).astype(np.float32)
    else:
        bed = _babble_bed(int(length / RATE) + 2)
        start = (seed * 997) % (len(bed) - length)
        noise = bed[start : start + length]
    mixed = np.clip(turn.samples + _at_level(noise, float(level)), -1, 1)
    return Turn(turn.utterance, mixed.astype(np.float32), turn.pauses, turn.speech_end)
