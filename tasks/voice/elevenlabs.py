"""The ElevenLabs voice provider: one ``with-timestamps`` request per sentence.

Each speech segment is one ``POST /v1/text-to-speech/{voice_id}/with-timestamps`` through
the official SDK (``client.text_to_speech.convert_with_timestamps``). The reply carries
base64 MP3 audio and a character alignment: for every character of the text, its start
and end in seconds. From these come:

- the waveform: :data:`OUTPUT_FORMAT` (``mp3_44100_128``, available on every plan) decoded
  with PyAV to float32 mono at :data:`SAMPLE_RATE_HZ`;
- words: runs of letters in the original text, timed by their first and last character;
- phones: *approximations from spelling*. ElevenLabs gives no phonemes, so letters and
  letter groups are mapped to IPA symbols that lip sync knows (:data:`SPELLING`, e.g.
  "th" -> θ, "sh" -> ʃ, "ee" -> i) and timed by their characters; spaces and punctuation
  become silence ("_"). English spelling is irregular ("though", "colour"), so a phone may
  be wrong, but its time is the voice's own, and mouth shapes only need the broad class.
  The normalised alignment (numbers spelled out) is used for phones when the reply has it.

Emotion sets the request's voice settings (:func:`voice_settings_for`), derived from the
same prosody that drives Piper (tasks/emotion/expression.py); its volume is applied to the
decoded waveform and its sentence gap becomes the utterance's ``gap_after_s``. ElevenLabs
has no pitch control, so ``pitch_semitones`` is not used: style and stability carry the
emotion instead.

Errors are classified once, for Prefect's retry policy (tasks/policy.py):

- :class:`~core.errors.TransientError`: 429 (``too_many_concurrent_requests``,
  ``system_busy``) and 5xx, timeouts, lost connections, and replies without usable audio
  or alignment.
- :class:`~core.errors.PermanentError`: 400, 401 (bad key, or no quota left), 403, 404,
  422 and any other status a retry cannot fix.

The SDK's own retries are off (``max_retries=0`` in every request): Prefect owns retries.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
import unicodedata
from collections.abc import Sequence
from typing import Any

import av
import httpx
import numpy as np
from elevenlabs import AudioWithTimestampsResponse, ElevenLabs, VoiceSettings
from elevenlabs.core import ApiError, ParsingError
from elevenlabs.core.request_options import RequestOptions

from core.errors import (
    ConfigError,
    PermanentError,
    ProviderError,
    TransientError,
    is_transient_status,
)
from core.settings import Settings, required_secret
from models.domain import Emotion, Phone, Segment, Word
from tasks.emotion.expression import INTENSITY_EXPONENT, expression_for
from tasks.voice.speech import Utterance

PROVIDER = "elevenlabs"

OUTPUT_FORMAT = "mp3_44100_128"
"""MP3, 44.1 kHz, 128 kbit/s: offered on every plan (PCM at 44.1 kHz needs Pro)."""

SAMPLE_RATE_HZ = 44_100
"""Rate of every utterance; the decoded audio is resampled to it whatever the reply."""

REQUEST_TIMEOUT_S = 60.0
"""Limit in seconds on connecting and on each read of a request (a sentence takes a few
seconds to speak)."""

# ElevenLabs' allowed ranges and the settings at which a voice sounds as designed.
SPEED_RANGE = (0.7, 1.2)
STABILITY_NEUTRAL = 0.5
STABILITY_RANGE = (0.25, 0.8)
STABILITY_PER_NOISE_W = 1.0
"""Stability lost per unit of Piper's ``noise_w`` above neutral (0.8): anger and fear
(``noise_w`` 1.0) get 0.3, sadness (0.6) 0.7."""
STYLE_AT_FULL_INTENSITY = 0.45
"""Style exaggeration of an emotion at intensity 1 (higher values cost latency and drift
from the voice)."""
SIMILARITY_BOOST = 0.75

ALIGNMENT_SLACK_S = 0.25
"""How far the alignment may run past the decoded audio (MP3 framing) before the reply
counts as broken."""

SILENCE = "_"
NEUTRAL_VOWEL = "ə"
"""Phone for a character that :data:`SPELLING` does not cover (digits, other scripts)."""

# Letter groups -> IPA symbols of tasks/lipsync/phonemes.py:IPA_VISEME. Longest match first;
# an empty tuple is a silent group whose time goes to the phone before it. Several
# symbols share the group's time equally.
SPELLING: dict[str, tuple[str, ...]] = {
    # three letters
    "tch": ("ʧ",), "dge": ("ʤ",), "igh": ("a", "ɪ"),
    # consonant digraphs
    "th": ("θ",), "sh": ("ʃ",), "ch": ("ʧ",), "ph": ("f",), "ng": ("ŋ",), "ck": ("k",),
    "wh": ("w",), "qu": ("k", "w"), "kn": ("n",), "wr": ("ɹ",), "gh": (),
    # vowel teams and r-coloured vowels
    "ee": ("i",), "ea": ("i",), "ie": ("i",), "oo": ("u",), "ue": ("u",), "ew": ("j", "u"),
    "ou": ("a", "ʊ"), "ow": ("a", "ʊ"), "oa": ("o", "ʊ"), "ai": ("e", "ɪ"), "ay": ("e", "ɪ"),
    "ei": ("e", "ɪ"), "ey": ("e", "ɪ"), "oi": ("ɔ", "ɪ"), "oy": ("ɔ", "ɪ"), "au": ("ɔ",),
    "aw": ("ɔ",), "er": ("ɚ",), "ir": ("ɝ",), "ur": ("ɝ",), "ar": ("ɑ", "ɹ"),
    "or": ("ɔ", "ɹ"),
    # single letters
    "a": ("æ",), "b": ("b",), "c": ("k",), "d": ("d",), "e": ("ɛ",), "f": ("f",),
    "g": ("ɡ",), "h": ("h",), "i": ("ɪ",), "j": ("ʤ",), "k": ("k",), "l": ("l",),
    "m": ("m",), "n": ("n",), "o": ("ɑ",), "p": ("p",), "q": ("k",), "r": ("ɹ",),
    "s": ("s",), "t": ("t",), "u": ("ʌ",), "v": ("v",), "w": ("w",), "x": ("k", "s"),
    "y": ("i",), "z": ("z",),
}
SOFT_C: tuple[str, ...] = ("s",)
SOFT_C_BEFORE = frozenset("eiy")
"""A "c" before e, i or y sounds as s ("city", "nice")."""
VOWEL_LETTERS = frozenset("aeiouy")
APOSTROPHES = frozenset("'’")
_LONGEST = max(len(group) for group in SPELLING)
_WORD = re.compile(r"\w+(?:['’-]\w+)*")


def voice_settings_for(emotion: Emotion | None, intensity: float) -> VoiceSettings:
    """ElevenLabs voice settings for one emotion, derived from its voice prosody.

    The prosody is ``expression_for(emotion, intensity).voice``, the one table that also
    drives Piper, so both providers move the same way as intensity grows:

    - ``speed`` = 1 / ``length_scale``, clipped to ElevenLabs' 0.7..1.2 (joy and anger
      faster, sadness slower);
    - ``stability`` = 0.5 − (``noise_w`` − 0.8), clipped to 0.25..0.8: emotions that
      Piper delivers less evenly (anger, fear, surprise, joy) get a livelier, less stable
      voice; sadness and disgust a steadier one; neutral the voice's usual 0.5;
    - ``style`` = 0.45 × ``intensity ** 0.8`` for any emotion but neutral (the same eased
      curve as the prosody), 0 for neutral;
    - ``similarity_boost`` is fixed at 0.75.

    Args:
        emotion: one of the seven emotions; ``None`` is neutral.
        intensity: 0..1.

    Raises:
        ValueError: an unknown emotion or an intensity outside 0..1.
    """
    prosody = expression_for(emotion, intensity).voice
    neutral = expression_for("neutral", 1.0).voice
    speed = float(np.clip(1.0 / prosody.length_scale, *SPEED_RANGE))
    stability = float(np.clip(
        STABILITY_NEUTRAL - STABILITY_PER_NOISE_W * (prosody.noise_w - neutral.noise_w),
        *STABILITY_RANGE))
    emotional = emotion not in (None, "neutral")
    style = STYLE_AT_FULL_INTENSITY * intensity ** INTENSITY_EXPONENT if emotional else 0.0
    return VoiceSettings(stability=round(stability, 3), similarity_boost=SIMILARITY_BOOST,
                         style=round(style, 3), speed=round(speed, 3))


class ElevenLabsTTS:
    """Voice provider backed by ElevenLabs' text-to-speech API (needs a key and network)."""

    name = "elevenlabs"

    def __init__(self, *, api_key: str, voice: str, model_id: str,
                 base_url: str | None = None, timeout_s: float = REQUEST_TIMEOUT_S):
        """Build the provider and its SDK client (no request is made here).

        Args:
            api_key: the ElevenLabs API key.
            voice: the ElevenLabs voice id, e.g. ``21m00Tcm4TlvDq8ikWAM``.
            model_id: e.g. ``eleven_multilingual_v2``.
            base_url: API root, ``None`` for ElevenLabs' own (``https://api.elevenlabs.io``).
            timeout_s: limit per request, in seconds.
        """
        if not api_key:
            raise ConfigError("The ElevenLabs voice provider needs an API key: "
                              "set AURA_ELEVENLABS__API_KEY")
        self.voice = voice
        self.model_id = model_id
        self.timeout_s = timeout_s
        self._api_key = api_key
        self._client = ElevenLabs(api_key=api_key, base_url=base_url, timeout=timeout_s)
        self._request_options: RequestOptions = {"max_retries": 0}

    @classmethod
    def from_settings(cls, settings: Settings) -> ElevenLabsTTS:
        """The provider configured by ``AURA_ELEVENLABS__*``.

        Raises:
            ConfigError: no API key is set.
        """
        config = settings.elevenlabs
        key = required_secret(config.api_key, needed_by="AURA_TTS=elevenlabs",
                              setting="AURA_ELEVENLABS__API_KEY", instead="AURA_TTS=piper")
        return cls(api_key=key, voice=config.voice_id, model_id=config.model_id,
                   base_url=config.base_url)

    @property
    def voice_id(self) -> str:
        """Identifies the voice in artifact keys: provider, ElevenLabs voice and model."""
        return f"elevenlabs:{self.voice}:{self.model_id}"

    @property
    def sample_rate_hz(self) -> int:
        return SAMPLE_RATE_HZ

    def speak(self, segment: Segment) -> Utterance:
        """Speak one speech segment with the voice settings of its emotion.

        Returns:
            Float32 mono samples at :data:`SAMPLE_RATE_HZ`, words and spelling-based phones
            with times in seconds from the start of the samples, and the emotion's
            sentence gap.

        Raises:
            TransientError: worth a retry (rate limit, server error, network, bad reply).
            PermanentError: a retry cannot help (key, quota, voice, request refused).
        """
        prosody = expression_for(segment.emotion, segment.intensity).voice
        if not segment.text.strip():
            return Utterance(samples=np.zeros(0, dtype=np.float32),
                             sample_rate_hz=SAMPLE_RATE_HZ, gap_after_s=prosody.sentence_gap_s)
        reply = self._request(segment)
        samples = decode_audio(reply.audio_base_64)
        duration_s = len(samples) / SAMPLE_RATE_HZ
        words_from = _checked_alignment(reply.alignment, "alignment", duration_s)
        phones_from = (_checked_alignment(reply.normalized_alignment, "normalized_alignment",
                                          duration_s)
                       if reply.normalized_alignment is not None else words_from)
        samples = np.clip(samples * np.float32(prosody.volume), -1.0, 1.0)
        return Utterance(samples=samples.astype(np.float32), sample_rate_hz=SAMPLE_RATE_HZ,
                         phones=phones_from_alignment(*phones_from, duration_s=duration_s),
                         words=words_from_alignment(*words_from),
                         gap_after_s=prosody.sentence_gap_s)

    def _request(self, segment: Segment) -> AudioWithTimestampsResponse:
        # ``from None`` throughout: the SDK's exceptions print the request and response
        # headers, and tracebacks in logs show chained causes.
        try:
            return self._client.text_to_speech.convert_with_timestamps(
                self.voice, text=segment.text, model_id=self.model_id,
                voice_settings=voice_settings_for(segment.emotion, segment.intensity),
                output_format=OUTPUT_FORMAT, request_options=self._request_options)
        except ApiError as exc:
            raise self._status_error(exc) from None
        except ParsingError:
            raise TransientError("the reply does not fit the API's schema",
                                 provider=PROVIDER) from None
        except httpx.TimeoutException:
            raise TransientError(f"no answer within {self.timeout_s:g} s", provider=PROVIDER
                                 ) from None
        except httpx.TransportError as exc:
            raise TransientError(f"could not reach the API ({type(exc).__name__})",
                                 provider=PROVIDER) from None

    def _status_error(self, exc: ApiError) -> ProviderError:
        """The AuraStudio error for an HTTP error status (or an unreadable reply)."""
        status = exc.status_code or 0
        code, detail = _error_detail(exc.body)
        detail = detail.replace(self._api_key, "[api key]")
        if 200 <= status < 300:
            return TransientError("the reply is not JSON", provider=PROVIDER,
                                  status_code=status)
        if status == 401 and code == "quota_exceeded":
            return PermanentError(f"the ElevenLabs account has no character quota left "
                                  f"(401): {detail}", provider=PROVIDER, status_code=status)
        if status == 401:
            return PermanentError("ElevenLabs rejected the API key (401); check "
                                  "AURA_ELEVENLABS__API_KEY", provider=PROVIDER,
                                  status_code=status)
        if status == 403:
            return PermanentError(f"ElevenLabs refused access (403) to text to speech: "
                                  f"{detail}", provider=PROVIDER, status_code=status)
        if status == 404:
            return PermanentError(f"ElevenLabs does not know voice {self.voice!r} or model "
                                  f"{self.model_id!r} (404); check AURA_ELEVENLABS__VOICE_ID "
                                  f"and AURA_ELEVENLABS__MODEL_ID: {detail}",
                                  provider=PROVIDER, status_code=status)
        if status == 429:
            return TransientError(f"ElevenLabs is busy (429 {code or 'rate limited'}): "
                                  f"{detail}", provider=PROVIDER, status_code=status)
        if is_transient_status(status):
            return TransientError(f"ElevenLabs could not answer for now ({status}): {detail}",
                                  provider=PROVIDER, status_code=status)
        return PermanentError(f"ElevenLabs rejected the request ({status}): {detail}",
                              provider=PROVIDER, status_code=status)


def _error_detail(body: object) -> tuple[str | None, str]:
    """``(status code word, message)`` from an ElevenLabs error body.

    Bodies look like ``{"detail": {"status": "too_many_concurrent_requests", "message":
    "..."}}``, or for a request that fails validation ``{"detail": [{"loc": [...], "msg":
    "..."}]}``.
    """
    detail = body.get("detail", body) if isinstance(body, dict) else body
    if isinstance(detail, dict):
        code = detail.get("status")
        message = detail.get("message") or code or "no details"
        return (code if isinstance(code, str) else None), str(message)
    if isinstance(detail, list) and detail and all(isinstance(d, dict) for d in detail):
        return None, "; ".join(
            f"{'.'.join(str(p) for p in d.get('loc', []))}: {d.get('msg', '')}"
            for d in detail[:3])
    text = str(detail) if detail else "no details"
    return None, text if len(text) <= 200 else text[:197] + "..."


def decode_audio(audio_base64: str | None) -> np.ndarray:
    """The reply's base64 MP3 as float32 mono samples at :data:`SAMPLE_RATE_HZ`.

    Returns:
        Shape (n_samples,), values in [-1, 1].

    Raises:
        TransientError: no audio, not base64, or not decodable as MP3.
    """
    if not audio_base64:
        raise TransientError("the reply has no audio", provider=PROVIDER)
    try:
        data = base64.b64decode(audio_base64, validate=True)
    except (binascii.Error, ValueError):
        raise TransientError("the reply's audio is not valid base64", provider=PROVIDER
                             ) from None
    resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE_HZ)
    pieces: list[np.ndarray] = []
    try:
        with av.open(io.BytesIO(data), format="mp3") as container:
            if not container.streams.audio:
                raise TransientError("the reply's audio has no audio stream",
                                     provider=PROVIDER)
            for frame in container.decode(audio=0):
                pieces += [out.to_ndarray()[0] for out in resampler.resample(frame)]
        pieces += [out.to_ndarray()[0] for out in resampler.resample(None)]
    except av.FFmpegError as exc:
        raise TransientError(f"the reply's audio cannot be decoded as MP3 ({exc.strerror})",
                             provider=PROVIDER) from None
    if not pieces or not sum(len(p) for p in pieces):
        raise TransientError("the reply has no audio (it decodes to no samples)",
                             provider=PROVIDER)
    return np.concatenate(pieces).astype(np.float32)


Alignment = tuple[list[str], np.ndarray, np.ndarray]
"""Characters with their start and end times in seconds, shapes (n,), (n,)."""


def _checked_alignment(alignment: Any, name: str, duration_s: float) -> Alignment:
    """The characters and their times, after checking that they describe the audio.

    Raises:
        TransientError: missing, lists of different lengths, times that are not numbers,
            negative, run backwards, or end well past the audio.
    """
    def broken(problem: str) -> TransientError:
        return TransientError(f"the reply's {name} is broken: {problem}", provider=PROVIDER)

    if alignment is None:
        raise TransientError(f"the reply has no {name}", provider=PROVIDER)
    characters = getattr(alignment, "characters", None)
    starts = getattr(alignment, "character_start_times_seconds", None)
    ends = getattr(alignment, "character_end_times_seconds", None)
    if not isinstance(characters, list) or not isinstance(starts, list) or not isinstance(
            ends, list):
        raise broken("characters or times are missing")
    if not characters:
        raise broken("no characters")
    if not len(characters) == len(starts) == len(ends):
        raise broken(f"{len(characters)} characters but {len(starts)} start and "
                     f"{len(ends)} end times")
    if not all(isinstance(c, str) for c in characters):
        raise broken("characters that are not text")
    try:
        start_s = np.asarray(starts, dtype=np.float64)
        end_s = np.asarray(ends, dtype=np.float64)
    except (TypeError, ValueError):
        raise broken("times that are not numbers") from None
    if not (np.isfinite(start_s).all() and np.isfinite(end_s).all()):
        raise broken("times that are not numbers")
    if (start_s < 0).any() or (end_s < start_s - 1e-6).any():
        raise broken("a character ends before it starts or starts before 0 s")
    if (np.diff(start_s) < -1e-6).any():
        first = int(np.argmax(np.diff(start_s) < -1e-6)) + 1
        raise broken(f"character {first} ({characters[first]!r}) starts before the one "
                     "before it")
    if end_s.max() > duration_s + ALIGNMENT_SLACK_S:
        raise broken(f"it runs to {end_s.max():.2f} s but the audio lasts {duration_s:.2f} s")
    return characters, np.minimum(start_s, duration_s), np.minimum(end_s, duration_s)


def words_from_alignment(characters: Sequence[str], start_s: np.ndarray,
                         end_s: np.ndarray) -> list[Word]:
    """The words of the aligned text (letters and digits, with inner ' and -), timed from
    their first character's start to their last character's end."""
    owner = [i for i, char in enumerate(characters) for _ in char]
    text = "".join(characters)
    return [Word(text=match.group(), start_s=round(float(start_s[owner[match.start()]]), 5),
                 end_s=round(float(end_s[owner[match.end() - 1]]), 5))
            for match in _WORD.finditer(text)]


def phones_from_alignment(characters: Sequence[str], start_s: np.ndarray, end_s: np.ndarray,
                          *, duration_s: float | None = None) -> list[Phone]:
    """Phone-like units from the spelling of the aligned text (an approximation).

    Letters become IPA symbols by :data:`SPELLING` (longest letter group first; a "c"
    before e/i/y is s; a word-final "e" after a consonant in a word with another vowel,
    the second of a doubled consonant and apostrophes are silent and lengthen the phone
    before them). Spaces and punctuation become "_". Silence fills the time before the
    first character and, given ``duration_s``, after the last.

    Returns:
        Phones in time order; times in seconds.
    """
    units: list[list[Any]] = []  # [symbol, start_s, end_s]

    def emit(symbol: str, start: float, end: float) -> None:
        if symbol == SILENCE and units and units[-1][0] == SILENCE:
            units[-1][2] = max(units[-1][2], end)
        else:
            units.append([symbol, start, end])

    if start_s[0] > 0:
        emit(SILENCE, 0.0, float(start_s[0]))
    i = 0
    while i < len(characters):
        if _in_word(characters[i]):
            j = i
            while j < len(characters) and _in_word(characters[j]):
                j += 1
            for symbol, start, end in _spell(characters[i:j], start_s[i:j], end_s[i:j]):
                emit(symbol, start, end)
            i = j
        else:
            emit(SILENCE, float(start_s[i]), float(end_s[i]))
            i += 1
    if duration_s is not None and units[-1][2] < duration_s:
        emit(SILENCE, units[-1][2], duration_s)
    return [Phone(symbol=symbol, start_s=round(start, 5), end_s=round(end, 5))
            for symbol, start, end in units]


def _in_word(character: str) -> bool:
    return character.isalnum() or character in APOSTROPHES


def _letter(character: str) -> str:
    """Lower-case base letter: "É" -> "e"; other characters unchanged."""
    base = unicodedata.normalize("NFKD", character.lower())[:1]
    return base if base.isascii() else character.lower()[:1]


def _spell(characters: Sequence[str], start_s: np.ndarray,
           end_s: np.ndarray) -> list[tuple[str, float, float]]:
    """Timed IPA symbols of one word, from its letters (see :func:`phones_from_alignment`)."""
    letters = "".join(_letter(c) or "?" for c in characters)
    has_vowel_before = [any(v in VOWEL_LETTERS for v in letters[:k])
                        for k in range(len(letters))]
    spelled: list[tuple[str, float, float]] = []
    pending_start: float | None = None  # a silent group before the first phone
    i = 0
    while i < len(letters):
        letter = letters[i]
        size = 1
        silent_e = (letter == "e" and i == len(letters) - 1 and i > 0
                    and letters[i - 1] not in VOWEL_LETTERS and has_vowel_before[i - 1])
        doubled = (i > 0 and letter == letters[i - 1] and letter.isalpha()
                   and letter not in VOWEL_LETTERS)
        if letter in APOSTROPHES or silent_e or doubled:
            symbols: tuple[str, ...] = ()
        else:
            for size in range(min(_LONGEST, len(letters) - i), 0, -1):
                if letters[i:i + size] in SPELLING:
                    symbols = SPELLING[letters[i:i + size]]
                    break
            else:
                size, symbols = 1, (NEUTRAL_VOWEL,)
            if letters[i:i + size] == "c" and letters[i + 1:i + 2] in SOFT_C_BEFORE:
                symbols = SOFT_C
        start, end = float(start_s[i]), float(end_s[i + size - 1])
        if not symbols:
            if spelled:
                symbol, first, _ = spelled[-1]
                spelled[-1] = (symbol, first, end)
            elif pending_start is None:
                pending_start = start
        else:
            if pending_start is not None:
                start, pending_start = pending_start, None
            step = (end - start) / len(symbols)
            spelled += [(symbol, start + k * step, start + (k + 1) * step)
                        for k, symbol in enumerate(symbols)]
        i += size
    if pending_start is not None:  # a word of silent letters only (an apostrophe)
        spelled.append((SILENCE, pending_start, float(end_s[-1])))
    return spelled
