"""A person's own recording, made ready to stand in for synthesised speech.

:func:`load_recording` opens any container and codec FFmpeg (through PyAV) knows: WAV,
MP3, M4A/AAC, OGG/Opus, WebM/Opus as phones and browsers record them, FLAC and more. It

1. checks the file (present, a regular file, not empty) and, when the container states a
   duration, refuses a recording longer than :data:`MAX_DURATION_S` before decoding it;
2. decodes packet by packet, downmixing each frame to mono float32 with FFmpeg's
   resampler (which knows every channel layout) and changing the sample rate with soxr's
   streaming "HQ" resampler (FFmpeg's built-in one aliases audibly near the new Nyquist
   frequency and this build has no soxr); the length is checked after every frame, so a
   file without a stated duration (a browser's WebM) is refused as soon as it passes the
   limit. Only the decoded mono samples at the target rate are kept;
3. trims leading and trailing silence: 10 ms frames quieter than
   :data:`TRIM_BELOW_PEAK_DB` under the loudest frame, keeping :data:`TRIM_MARGIN_S` of
   margin on each side;
4. normalises the integrated loudness (ITU-R BS.1770, pyloudnorm) to :data:`TARGET_LUFS`,
   then limits peaks to :data:`PEAK_CEILING_DBFS` with a look-ahead limiter (see
   :func:`_limit_peaks`), which only touches the few milliseconds around each peak; if
   limiting lowered the loudness, the gain is corrected and the limiter run again.

Every problem a person can cause raises :class:`RecordingError` with a plain message.
:func:`file_digest` hashes the file's bytes, so cached results can be keyed on content.
"""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import pyloudnorm
import soundfile as sf
import soxr
from scipy.ndimage import minimum_filter1d, uniform_filter1d

from core.errors import InputError
from core.storage import Storage
from tasks.voice.trickster import TricksterParams, apply_effect

TARGET_RATE_HZ = 24_000
"""Sample rate of the returned samples, the voice track's rate."""
TARGET_LUFS = -16.0
"""Integrated loudness the recording is normalised to (ITU-R BS.1770)."""
PEAK_CEILING_DBFS = -1.0
"""No returned sample is louder than this (sample peak)."""
MAX_DURATION_S = 600.0
"""Longest recording accepted, before trimming (10 minutes)."""
MIN_DURATION_S = 0.5
"""Shortest stretch of sound accepted, from its first to its last sounding 10 ms."""
SILENT_PEAK_DBFS = -50.0
"""A recording whose loudest sample is below this is silent."""
SILENT_LUFS = -60.0
"""A recording whose trimmed loudness is below this is silent."""
TRIM_BELOW_PEAK_DB = 40.0
"""Frames this far below the loudest frame count as silence when trimming."""
TRIM_FRAME_S = 0.010
"""Length of the frames whose energy decides what is silence."""
TRIM_MARGIN_S = 0.050
"""Silence kept before the first and after the last sounding frame."""
HEADER_SLACK_S = 0.5
"""Durations stated by containers include encoder padding; allow this much over."""
LIMITER_HOLD_S = 0.020
"""The limiter holds its gain this long either side of a peak (look-ahead and release)."""
LIMITER_RAMP_S = 0.005
"""Half the time the limiter's gain takes to move (its changes are 10 ms linear ramps)."""
LOUDNESS_TOLERANCE_LU = 0.1
"""How close to :data:`TARGET_LUFS` the result must be before normalising stops."""
NORMALISE_PASSES = 4
"""Gain-then-limit passes at most; the first is enough unless the limiter works hard."""
_RESAMPLE_QUALITY = "HQ"
_DIGEST_CHUNK_BYTES = 1 << 20


class RecordingError(InputError):
    """A recording cannot be used; the message says why, in plain words."""

    def __init__(self, message: str, *, path: Path | None = None):
        self.path = path
        super().__init__(message)


@dataclass(frozen=True, eq=False)
class Recording:
    """A decoded, trimmed and loudness-normalised recording.

    ``samples``: float32 mono waveform in [-1, 1], shape (n_samples,), read-only; no
    sample is louder than :data:`PEAK_CEILING_DBFS`.
    ``loudness_lufs``: the integrated loudness of ``samples`` (normally
    :data:`TARGET_LUFS` within :data:`LOUDNESS_TOLERANCE_LU`).
    ``source_format``: the codec of the file's audio ("mp3", "aac", "opus", "pcm_s16le").
    ``trimmed_s``: seconds of leading plus trailing silence removed.
    """

    samples: np.ndarray
    sample_rate_hz: int
    loudness_lufs: float
    source_format: str
    trimmed_s: float

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate_hz


def load_recording(path: Path, *, sample_rate_hz: int = TARGET_RATE_HZ) -> Recording:
    """Load a person's recording as mono samples ready to use in place of synthesised speech.

    Args:
        path: the audio (or video with sound) file, in any format FFmpeg decodes.
        sample_rate_hz: the sample rate of the returned samples.

    Returns:
        A :class:`Recording`: mono float32 at ``sample_rate_hz``, silence trimmed,
        normalised to :data:`TARGET_LUFS` with peaks at most :data:`PEAK_CEILING_DBFS`.

    Raises:
        RecordingError: the file is missing, empty, not audio or damaged, has no sound,
            is silent, is longer than :data:`MAX_DURATION_S` or has less than
            :data:`MIN_DURATION_S` of sound.
        ValueError: ``sample_rate_hz`` is not a positive integer.
    """
    if isinstance(sample_rate_hz, bool) or not isinstance(sample_rate_hz, int | np.integer) \
            or sample_rate_hz <= 0:
        raise ValueError(f"sample_rate_hz must be a positive integer, got {sample_rate_hz!r}")
    path = Path(path)
    _check_file(path)
    samples, source_format = _decode_mono(path, int(sample_rate_hz))
    name = path.name

    peak = max(float(samples.max()), -float(samples.min()))
    if peak == 0.0 or 20 * np.log10(peak) < SILENT_PEAK_DBFS:
        raise RecordingError(f"the recording '{name}' is silent; check that the microphone "
                             "was on and not muted", path=path)
    start, end, sound_s = _sound_bounds(samples, sample_rate_hz)
    if sound_s < MIN_DURATION_S:
        raise RecordingError(f"the recording '{name}' is too short: it has only "
                             f"{_describe_s(sound_s)} of sound, and at least "
                             f"{_describe_s(MIN_DURATION_S)} is needed", path=path)
    trimmed_s = (len(samples) - (end - start)) / sample_rate_hz
    speech = samples[start:end]

    meter = pyloudnorm.Meter(sample_rate_hz)
    loudness = float(meter.integrated_loudness(speech))
    if not np.isfinite(loudness) or loudness < SILENT_LUFS:
        raise RecordingError(f"the recording '{name}' is silent (too quiet to hear); check "
                             "that the microphone was on and not muted", path=path)
    out, loudness = _normalise(speech, sample_rate_hz, loudness, meter)
    out.flags.writeable = False
    return Recording(samples=out, sample_rate_hz=int(sample_rate_hz), loudness_lufs=loudness,
                     source_format=source_format, trimmed_s=trimmed_s)


def file_digest(path: Path) -> str:
    """SHA-256 of the file's bytes as 64 hex digits, read in 1 MiB chunks.

    Raises:
        RecordingError: the file is missing or not a regular file.
    """
    path = Path(path)
    if not path.is_file():
        _check_file(path)
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _check_file(path: Path) -> None:
    name = path.name or str(path)
    if not path.exists():
        raise RecordingError(f"the recording '{name}' was not found: there is no such file",
                             path=path)
    if path.is_dir():
        raise RecordingError(f"'{name}' is a folder, not a recording", path=path)
    if not path.is_file():
        raise RecordingError(f"'{name}' is not a regular file, so it cannot be a recording",
                             path=path)
    if path.stat().st_size == 0:
        raise RecordingError(f"the recording '{name}' is empty (0 bytes)", path=path)


def _decode_mono(path: Path, rate_hz: int) -> tuple[np.ndarray, str]:
    """Decode the best audio stream as float32 mono at ``rate_hz``, and name its codec."""
    name = path.name
    limit_samples = int(MAX_DURATION_S * rate_hz)
    chunks: list[np.ndarray] = []
    n_samples = 0
    first_error: av.FFmpegError | None = None
    try:
        with av.open(str(path), metadata_errors="replace") as container:
            stream = _audio_stream(container, path)
            if stream.codec_context is None:
                raise RecordingError(f"'{name}' could not be read as audio: its sound is in a "
                                     "format we cannot decode", path=path)
            source_format = stream.codec_context.codec.canonical_name
            stated_s = _stated_duration_s(container, stream)
            if stated_s is not None and stated_s > MAX_DURATION_S + HEADER_SLACK_S:
                raise RecordingError(_too_long(name, _describe_s(stated_s)), path=path)
            to_mono = _MonoResampler(rate_hz)
            for packet in container.demux(stream):
                try:
                    frames = packet.decode()
                except av.InvalidDataError as e:
                    # A damaged packet (a cut-off upload, two files glued together) is
                    # skipped, as players do; a file where nothing decodes is refused below.
                    first_error = first_error or e
                    continue
                for frame in frames:
                    chunk = to_mono.push(frame)
                    n_samples += chunk.size
                    if n_samples > limit_samples:
                        raise RecordingError(
                            _too_long(name, f"over {_describe_s(MAX_DURATION_S)}"), path=path)
                    if chunk.size:
                        chunks.append(chunk)
            chunks.append(to_mono.flush())
    except av.FFmpegError as e:
        raise RecordingError(_unreadable(name, e), path=path) from e

    n_samples = sum(chunk.size for chunk in chunks)
    if n_samples > limit_samples:
        raise RecordingError(_too_long(name, f"over {_describe_s(MAX_DURATION_S)}"), path=path)
    if n_samples == 0:
        if first_error is not None:
            raise RecordingError(_unreadable(name, first_error), path=path) from first_error
        raise RecordingError(f"the recording '{name}' contains no audio samples", path=path)
    samples = np.concatenate(chunks)
    del chunks
    # NaN propagates through max and min, so this finds any non-finite sample without
    # a temporary array as long as the recording.
    if not (np.isfinite(samples.max()) and np.isfinite(samples.min())):
        raise RecordingError(f"'{name}' could not be read as audio: it contains invalid "
                             "sample values", path=path)
    return samples, source_format


def _audio_stream(container: av.container.InputContainer, path: Path) -> av.AudioStream:
    stream = container.streams.best("audio")
    if stream is not None:
        return stream
    if container.streams.video:
        raise RecordingError(f"'{path.name}' has video but no sound; please give a file "
                             "with an audio track", path=path)
    raise RecordingError(f"'{path.name}' contains no sound", path=path)


def _stated_duration_s(container: av.container.InputContainer,
                       stream: av.AudioStream) -> float | None:
    """The audio's duration as the container states it, or None when it does not say."""
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return None


class _MonoResampler:
    """Turns decoded frames of any format, layout and rate into float32 mono at one rate.

    FFmpeg's resampler does the sample format and the downmix at the source rate; soxr
    does the rate change. Both are rebuilt if a stream changes format mid-way (chained
    Ogg, MP3 with a rate switch), after flushing what the old ones hold.
    """

    def __init__(self, rate_hz: int):
        self._rate_hz = rate_hz
        self._key: tuple[str, str, int] | None = None
        self._downmix: av.AudioResampler | None = None
        self._resample: soxr.ResampleStream | None = None

    def push(self, frame: av.AudioFrame) -> np.ndarray:
        key = (frame.format.name, frame.layout.name, frame.sample_rate)
        head = np.zeros(0, np.float32)
        if key != self._key:
            head = self.flush()
            self._key = key
            self._downmix = av.AudioResampler(format="flt", layout="mono")
            self._resample = (None if frame.sample_rate == self._rate_hz else
                              soxr.ResampleStream(frame.sample_rate, self._rate_hz, 1,
                                                  dtype="float32", quality=_RESAMPLE_QUALITY))
        mono = self._mono(self._downmix.resample(frame))
        if self._resample is not None:
            mono = self._resample.resample_chunk(mono, last=False)
        return np.concatenate([head, mono]) if head.size else mono

    def flush(self) -> np.ndarray:
        """What the resamplers still hold; they are spent afterwards."""
        if self._downmix is None:
            return np.zeros(0, np.float32)
        mono = self._mono(self._downmix.resample(None))
        if self._resample is not None:
            mono = self._resample.resample_chunk(mono, last=True)
        self._key = self._downmix = self._resample = None
        return mono

    @staticmethod
    def _mono(frames: list[av.AudioFrame]) -> np.ndarray:
        if not frames:
            return np.zeros(0, np.float32)
        # Packed mono "flt" frames come out as arrays of shape (1, n_samples).
        return np.concatenate([f.to_ndarray().reshape(-1) for f in frames]).astype(
            np.float32, copy=False)


def _sound_bounds(samples: np.ndarray, rate_hz: int) -> tuple[int, int, float]:
    """Where the sound starts and ends, margins included, and how long the sound lasts.

    Returns ``(start, end, sound_s)``: sample indices of the trimmed span and the
    seconds from the first to the end of the last frame within
    :data:`TRIM_BELOW_PEAK_DB` of the loudest frame.
    """
    frame = max(1, round(TRIM_FRAME_S * rate_hz))
    n_full = samples.size // frame
    whole = samples[:n_full * frame].reshape(n_full, frame)
    energy = np.einsum("ij,ij->i", whole, whole) / frame
    if samples.size > n_full * frame:
        tail = samples[n_full * frame:]
        energy = np.append(energy, np.dot(tail, tail) / frame)
    loud = np.flatnonzero(energy >= energy.max() * 10 ** (-TRIM_BELOW_PEAK_DB / 10))
    first, last = int(loud[0]), int(loud[-1])
    margin = round(TRIM_MARGIN_S * rate_hz)
    start = max(0, first * frame - margin)
    end = min(samples.size, (last + 1) * frame + margin)
    sound_s = (min(samples.size, (last + 1) * frame) - first * frame) / rate_hz
    return start, end, sound_s


def _normalise(speech: np.ndarray, rate_hz: int, loudness: float,
               meter: pyloudnorm.Meter) -> tuple[np.ndarray, float]:
    """Gain to :data:`TARGET_LUFS`, then limit peaks; repeat if limiting cost loudness.

    Returns the new samples and their measured integrated loudness (LUFS).
    """
    gain_db = TARGET_LUFS - loudness
    for _ in range(NORMALISE_PASSES):
        out = speech * np.float32(10 ** (gain_db / 20))
        if not _limit_peaks(out, rate_hz):
            # Loudness scales exactly with gain, so no need to measure again.
            return out, loudness + gain_db
        measured = float(meter.integrated_loudness(out))
        if abs(measured - TARGET_LUFS) <= LOUDNESS_TOLERANCE_LU:
            break
        gain_db += TARGET_LUFS - measured
    return out, measured


def _limit_peaks(samples: np.ndarray, rate_hz: int) -> bool:
    """Bring every sample to at most :data:`PEAK_CEILING_DBFS`, in place; True if any moved.

    A look-ahead limiter built from two filters over the gain each sample needs
    (``ceiling / |x|``, capped at 1): a sliding minimum over ``±LIMITER_HOLD_S`` (so the
    gain is already down when a peak arrives and stays down between close peaks), then a
    moving average over ``±LIMITER_RAMP_S`` (so it moves in short linear ramps, not
    steps). As the average window is inside the minimum window, the smoothed gain at a
    peak never exceeds the gain that peak needs. Only the stretches within reach of a peak
    are filtered; the rest of the signal is left bit for bit as it was.
    """
    ceiling = 10 ** (PEAK_CEILING_DBFS / 20)
    over = np.flatnonzero(np.abs(samples) > ceiling)
    if over.size == 0:
        return False
    hold = max(1, round(LIMITER_HOLD_S * rate_hz))
    ramp = min(hold, max(1, round(LIMITER_RAMP_S * rate_hz)))
    reach = hold + ramp
    # Peaks closer than 2 * reach share one stretch; stretches do not influence each other.
    breaks = np.flatnonzero(np.diff(over) > 2 * reach)
    starts = np.maximum(over[np.r_[0, breaks + 1]] - reach, 0)
    ends = np.minimum(over[np.r_[breaks, over.size - 1]] + reach + 1, samples.size)
    for start, end in zip(starts, ends, strict=True):
        stretch = samples[start:end]
        gain = ceiling / np.maximum(np.abs(stretch), ceiling)
        gain = minimum_filter1d(gain, size=2 * hold + 1, mode="nearest")
        gain = uniform_filter1d(gain, size=2 * ramp + 1, mode="nearest")
        stretch *= gain.astype(np.float32)
    # The filters' rounding can leave a sample a hair over; clip those last ulps.
    limit = np.float32(ceiling)
    np.clip(samples, -limit, limit, out=samples)
    return True


def _too_long(name: str, length: str) -> str:
    return (f"the recording '{name}' is too long ({length}); recordings can be at most "
            f"{_describe_s(MAX_DURATION_S)} long")


def _unreadable(name: str, error: av.FFmpegError) -> str:
    reason = (getattr(error, "strerror", None) or str(error)).strip()
    reason = reason[:1].lower() + reason[1:]
    return (f"'{name}' could not be read as audio: {reason} (is it a sound file, and is it "
            "complete?)")


def _describe_s(seconds: float) -> str:
    """A duration in words a person reads at a glance: "0.3 s", "12 s", "10 min 1 s"."""
    if seconds < 10:
        return f"{seconds:.2g} s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes == 0:
        return f"{rest} s"
    return f"{minutes} min" + (f" {rest} s" if rest else "")


def store_bent_recording(storage: Storage, source_key: str, effects: list[TricksterParams],
                         audio_key: str) -> tuple[Recording, float]:
    """Load the stored recording ``source_key``, apply ``effects`` in order and store the
    result as a 16-bit WAV under ``audio_key``.

    Returns the recording as loaded (format, loudness) and the result's length in seconds.
    """
    with tempfile.TemporaryDirectory(prefix="aura-recording-") as tmp:
        source = Path(tmp) / Path(source_key).name
        storage.download(source_key, source)
        recording = load_recording(source)
        samples = recording.samples
        for params in effects:
            samples = apply_effect(samples, recording.sample_rate_hz, params)
        wav = Path(tmp) / "bent.wav"
        sf.write(wav, samples, recording.sample_rate_hz, subtype="PCM_16")
        storage.put_file(audio_key, wav, "audio/wav")
    return recording, samples.size / recording.sample_rate_hz
