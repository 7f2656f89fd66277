"""Benchmark: the voice step's engines.

    .venv/bin/python bench/voice.py [--skip-ten-minutes]

Prints, on this machine:
- Piper TTS for ../shared/eval/scripts/minute.txt and ten_minutes.txt (parse, tag, speak
  every sentence, stream the track to a WAV): seconds and real-time factor (wall / audio;
  below 1 is faster than real time);
- trickster: seconds to process one minute of speech (24 kHz, the rate recordings are
  loaded at) for each preset and for pitch/formant/tempo alone;
- loading a 60 s MP3 recording (decode, resample, trim, loudness-normalise).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT.parent / "shared" / "eval" / "scripts"


def main() -> None:
    sys.path.insert(0, str(ROOT))
    import av
    import librosa

    from tasks.emotion import tag_script
    from tasks.voice import synthesize
    from tasks.voice.piper import PiperTTS
    from tasks.voice.recording import load_recording
    from tasks.voice.trickster import PRESETS, apply_effect, make_params

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-ten-minutes", action="store_true")
    args = parser.parse_args()

    tts = PiperTTS()
    tts.speak(tag_script("Warm up.")[0])  # loads the voice model once
    names = ["minute.txt"] + ([] if args.skip_ten_minutes else ["ten_minutes.txt"])
    print("Piper TTS (bundled voice, emotion prosody, streamed to WAV)")
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            segments = tag_script((SCRIPTS / name).read_text(encoding="utf-8"))
            start = time.perf_counter()
            track = synthesize(segments, tts, Path(tmp) / "voice.wav")
            wall = time.perf_counter() - start
            print(f"  {name:<16} {track.duration_s:7.1f} s audio in {wall:6.2f} s  "
                  f"real-time factor {wall / track.duration_s:.3f}")

        minute_script = tag_script((SCRIPTS / "minute.txt").read_text(encoding="utf-8"))
        wav = Path(tmp) / "minute.wav"
        track = synthesize(minute_script, tts, wav)
        speech, rate = librosa.load(wav, sr=24_000)
        minute = np.resize(speech, 60 * rate).astype(np.float32)
        print("Trickster on 60 s of speech at 24 kHz (seconds per minute of audio)")
        effects = {"pitch +4": make_params(pitch_semitones=4),
                   "formant 1.2": make_params(formant_ratio=1.2),
                   "tempo 1.25": make_params(tempo_ratio=1.25), **PRESETS}
        for name, params in effects.items():
            start = time.perf_counter()
            apply_effect(minute, rate, params)
            print(f"  {name:<12} {time.perf_counter() - start:6.2f} s")

        mp3 = Path(tmp) / "minute.mp3"
        with av.open(str(mp3), "w") as container:
            stream = container.add_stream("libmp3lame", rate=rate, layout="mono")
            frame = av.AudioFrame.from_ndarray(minute[None, :], format="flt", layout="mono")
            frame.sample_rate = rate
            for packet in stream.encode(frame):
                container.mux(packet)
            for packet in stream.encode(None):
                container.mux(packet)
        start = time.perf_counter()
        recording = load_recording(mp3)
        print(f"Loading a 60 s MP3 recording: {time.perf_counter() - start:.2f} s "
              f"({recording.duration_s:.1f} s kept, {recording.loudness_lufs:.1f} LUFS)")


if __name__ == "__main__":
    main()
