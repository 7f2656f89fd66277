"""A person's own recording: any common format in, trimmed mono at -16 LUFS out.

Every file here is real: a speech-like signal (a 150 Hz voice with harmonics and
syllable-rate loudness changes, 2.5 s, with 0.5 s of silence before and after) encoded by
PyAV the way phones, browsers and editors write them.
"""

from __future__ import annotations

import hashlib
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pyloudnorm
import pytest
import soundfile as sf

from core.errors import InputError, is_transient
from tasks.voice import recording
from tasks.voice.recording import (
    MAX_DURATION_S,
    PEAK_CEILING_DBFS,
    TARGET_LUFS,
    TARGET_RATE_HZ,
    Recording,
    RecordingError,
    file_digest,
    load_recording,
)

SOUND_S = 2.5
SILENCE_S = 0.5
LENGTH_TOLERANCE_S = 0.15
LOUDNESS_TOLERANCE_LU = 0.5


def speech_like(rate_hz: int, sound_s: float = SOUND_S, silence_s: float = SILENCE_S,
                level: float = 0.3) -> np.ndarray:
    """A voiced "sentence": shape (n_samples,), float32, silence on both sides."""
    t = np.arange(round(sound_s * rate_hz)) / rate_hz
    voice = sum(np.sin(2 * np.pi * 150 * k * t) / k for k in range(1, 20))
    syllables = 0.55 + 0.45 * np.sin(2 * np.pi * 4 * t)
    fade = np.sin(np.pi * t / sound_s) ** 0.2
    silence = np.zeros(round(silence_s * rate_hz))
    return np.concatenate([silence, level * voice * syllables * fade, silence]).astype(
        np.float32)


def write_audio(path: Path, channels: np.ndarray, rate_hz: int, codec: str, fmt: str,
                *, options: dict[str, str] | None = None) -> Path:
    """Encode ``channels`` (shape (n_channels, n_samples), float) with PyAV."""
    layout = {1: "mono", 2: "stereo"}[channels.shape[0]]
    with av.open(str(path), "w", format=fmt, options=options or {}) as container:
        stream = container.add_stream(codec, rate=rate_hz)
        stream.layout = layout
        frame_size = stream.codec_context.frame_size or 1024
        for start in range(0, channels.shape[1], frame_size):
            block = np.ascontiguousarray(channels[:, start:start + frame_size],
                                         dtype=np.float32)
            frame = av.AudioFrame.from_ndarray(block, format="fltp", layout=layout)
            frame.sample_rate = rate_hz
            frame.pts = start
            frame.time_base = Fraction(1, rate_hz)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def write_wav(path: Path, samples: np.ndarray, rate_hz: int) -> Path:
    sf.write(path, samples, rate_hz, subtype="PCM_16")
    return path


def lufs(rec: Recording) -> float:
    return pyloudnorm.Meter(rec.sample_rate_hz).integrated_loudness(rec.samples)


def peak_dbfs(samples: np.ndarray) -> float:
    return float(20 * np.log10(np.max(np.abs(samples))))


def assert_ready_to_use(rec: Recording, sound_s: float = SOUND_S) -> None:
    assert rec.samples.dtype == np.float32 and rec.samples.ndim == 1
    assert rec.sample_rate_hz == TARGET_RATE_HZ
    assert rec.duration_s == pytest.approx(sound_s, abs=LENGTH_TOLERANCE_S)
    assert lufs(rec) == pytest.approx(TARGET_LUFS, abs=LOUDNESS_TOLERANCE_LU)
    assert rec.loudness_lufs == pytest.approx(lufs(rec), abs=0.01)
    assert peak_dbfs(rec.samples) <= PEAK_CEILING_DBFS + 1e-4


def mono(rate_hz: int) -> np.ndarray:
    return speech_like(rate_hz)[np.newaxis]


def left_only_stereo(rate_hz: int) -> np.ndarray:
    voice = speech_like(rate_hz)
    return np.stack([voice, np.zeros_like(voice)])


# name, channels, rate (Hz), encoder, container, what load_recording reports
FORMATS = {
    "wav": (mono, 48_000, "pcm_s16le", "wav", "pcm_s16le"),
    "mp3": (mono, 44_100, "libmp3lame", "mp3", "mp3"),
    "m4a": (mono, 48_000, "aac", "mp4", "aac"),
    "ogg": (mono, 48_000, "libopus", "ogg", "opus"),
    "webm": (mono, 48_000, "libopus", "webm", "opus"),
    "flac": (mono, 48_000, "flac", "flac", "flac"),
    "stereo-44k.wav": (left_only_stereo, 44_100, "pcm_s16le", "wav", "pcm_s16le"),
}


@pytest.fixture(scope="module")
def samples_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("recordings")
    for name, (make, rate_hz, codec, fmt, _) in FORMATS.items():
        suffix = name if "." in name else f"voice.{name}"
        write_audio(folder / suffix, make(rate_hz), rate_hz, codec, fmt)
    return folder


def sample_path(folder: Path, name: str) -> Path:
    return folder / (name if "." in name else f"voice.{name}")


@pytest.mark.parametrize("name", FORMATS)
def test_every_common_format_loads_as_trimmed_mono_at_the_target_loudness(samples_dir, name):
    rec = load_recording(sample_path(samples_dir, name))
    assert_ready_to_use(rec)
    assert rec.source_format == FORMATS[name][-1]
    # 0.5 s of silence each side, less the 50 ms margins that are kept.
    assert rec.trimmed_s == pytest.approx(2 * SILENCE_S - 0.1, abs=LENGTH_TOLERANCE_S)


def test_the_sample_rate_can_be_chosen(samples_dir):
    rec = load_recording(sample_path(samples_dir, "m4a"), sample_rate_hz=16_000)
    assert rec.sample_rate_hz == 16_000
    assert rec.duration_s == pytest.approx(SOUND_S, abs=LENGTH_TOLERANCE_S)


def test_a_quiet_recording_is_brought_up_to_the_target_loudness(tmp_path):
    path = write_wav(tmp_path / "quiet.wav", speech_like(16_000, level=0.01), 16_000)
    assert_ready_to_use(load_recording(path))


def test_loud_peaks_are_limited_without_losing_the_target_loudness(tmp_path):
    rate_hz = 48_000
    voice = speech_like(rate_hz, level=0.05)
    # Plosive-like clicks, 20x the voice level, every 0.3 s through the sentence.
    for start in range(round(0.6 * rate_hz), round(2.9 * rate_hz), round(0.3 * rate_hz)):
        voice[start:start + 48] = 0.95 * np.hanning(48)
    path = write_wav(tmp_path / "clicks.wav", voice, rate_hz)
    rec = load_recording(path)
    assert_ready_to_use(rec)


def test_the_loaded_samples_cannot_be_changed(samples_dir):
    rec = load_recording(sample_path(samples_dir, "flac"))
    with pytest.raises(ValueError):
        rec.samples[0] = 1.0


def test_a_recording_cut_off_mid_upload_keeps_what_arrived(samples_dir, tmp_path):
    whole = sample_path(samples_dir, "mp3").read_bytes()
    path = tmp_path / "cut.mp3"
    path.write_bytes(whole[: len(whole) // 2])
    rec = load_recording(path)
    # Half of 3.5 s is 1.75 s; the 0.5 s of leading silence is trimmed.
    assert rec.duration_s == pytest.approx(1.75 - SILENCE_S, abs=LENGTH_TOLERANCE_S)


def test_file_digest_is_the_sha256_of_the_bytes_whatever_the_name(samples_dir, tmp_path):
    original = sample_path(samples_dir, "ogg")
    copy = tmp_path / "renamed.ogg"
    copy.write_bytes(original.read_bytes())
    expected = hashlib.sha256(original.read_bytes()).hexdigest()
    assert file_digest(original) == file_digest(copy) == expected
    assert file_digest(sample_path(samples_dir, "webm")) != expected


def test_file_digest_of_a_missing_file_says_so(tmp_path):
    with pytest.raises(RecordingError, match="not found"):
        file_digest(tmp_path / "gone.wav")


# --- what a person can get wrong, and what they are told -----------------------------

def test_recording_errors_are_input_errors_and_never_retried():
    assert issubclass(RecordingError, InputError)
    assert not is_transient(RecordingError("the recording 'x.wav' is silent"))


def test_a_missing_file_is_not_found(tmp_path):
    with pytest.raises(RecordingError, match=r"'nowhere\.mp3' was not found"):
        load_recording(tmp_path / "nowhere.mp3")


def test_a_folder_is_not_a_recording(tmp_path):
    with pytest.raises(RecordingError, match="is a folder, not a recording"):
        load_recording(tmp_path)


def test_an_empty_file_is_refused_as_empty(tmp_path):
    path = tmp_path / "empty.m4a"
    path.touch()
    with pytest.raises(RecordingError, match=r"is empty \(0 bytes\)"):
        load_recording(path)


def test_a_text_file_named_mp3_could_not_be_read_as_audio(tmp_path):
    path = tmp_path / "script.mp3"
    path.write_text("Hello and welcome to my channel.\nToday we talk about bees.\n" * 30)
    with pytest.raises(RecordingError, match=r"'script\.mp3' could not be read as audio") as e:
        load_recording(path)
    assert "Traceback" not in str(e.value) and "Errno" not in str(e.value)


def test_an_mp3_with_a_garbage_header_could_not_be_read_as_audio(tmp_path):
    rng = np.random.default_rng(7)
    path = tmp_path / "broken.mp3"
    path.write_bytes(b"ID3\x04\x00\x00\x00\x00\x00\x00" + rng.bytes(5000))
    with pytest.raises(RecordingError, match="could not be read as audio"):
        load_recording(path)


def test_a_video_without_sound_is_refused(tmp_path):
    path = tmp_path / "clip.mp4"
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        for i in range(10):
            frame = av.VideoFrame.from_ndarray(np.full((64, 64, 3), 20 * i, np.uint8),
                                               format="rgb24")
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    with pytest.raises(RecordingError, match="has video but no sound"):
        load_recording(path)


def test_a_wav_without_samples_contains_no_audio(tmp_path):
    path = write_wav(tmp_path / "nothing.wav", np.zeros(0, np.float32), 16_000)
    with pytest.raises(RecordingError, match="contains no audio samples"):
        load_recording(path)


def test_a_silent_recording_is_refused(tmp_path):
    path = write_wav(tmp_path / "silence.wav", np.zeros(3 * 16_000, np.float32), 16_000)
    with pytest.raises(RecordingError, match="'silence.wav' is silent"):
        load_recording(path)


def test_a_recording_of_faint_hiss_is_silent(tmp_path):
    hiss = np.random.default_rng(3).normal(0, 10 ** (-70 / 20), 3 * 16_000)
    path = write_wav(tmp_path / "hiss.wav", hiss.astype(np.float32), 16_000)
    with pytest.raises(RecordingError, match="is silent"):
        load_recording(path)


def test_a_recording_of_only_low_rumble_is_too_quiet_to_hear(tmp_path):
    # Loud enough on a meter (-40 dBFS) but at 10 Hz, far below what ears and BS.1770 count.
    rumble = 0.01 * np.sin(2 * np.pi * 10 * np.arange(3 * 16_000) / 16_000)
    path = write_wav(tmp_path / "rumble.wav", rumble.astype(np.float32), 16_000)
    with pytest.raises(RecordingError, match=r"is silent \(too quiet to hear\)"):
        load_recording(path)


def test_a_recording_over_ten_minutes_is_refused_from_its_header(tmp_path):
    rate_hz = 8_000
    tone = 0.3 * np.sin(2 * np.pi * 200 * np.arange(601 * rate_hz) / rate_hz)
    path = write_wav(tmp_path / "lecture.wav", tone.astype(np.float32), rate_hz)
    assert MAX_DURATION_S == 600
    # The stated length is in the message: the header decided, nothing was decoded.
    with pytest.raises(RecordingError,
                       match=r"too long \(10 min 1 s\); recordings can be at most 10 min"):
        load_recording(path)


def test_a_browser_recording_without_a_stated_length_is_refused_while_decoding(
        tmp_path, monkeypatch):
    # MediaRecorder's WebM is written live: the container does not say how long it is.
    path = write_audio(tmp_path / "browser.webm", mono(48_000), 48_000, "libopus", "webm",
                       options={"live": "1"})
    with av.open(str(path)) as container:
        assert container.duration is None
    monkeypatch.setattr(recording, "MAX_DURATION_S", 2.0)
    with pytest.raises(RecordingError, match=r"too long \(over 2 s\); .* at most 2 s"):
        load_recording(path)


def test_a_blip_is_too_short(tmp_path):
    blip = speech_like(16_000, sound_s=0.2, silence_s=1.0)
    path = write_wav(tmp_path / "blip.wav", blip, 16_000)
    with pytest.raises(RecordingError,
                       match=r"too short: it has only 0\.2 s of sound, and at least 0\.5 s"):
        load_recording(path)
