"""The `aura` command as a person runs it: the installed console script, in a subprocess."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from tests.support.media import probe_mp4

AURA = Path(sys.executable).with_name("aura")


def run_aura(*args: str, home: Path, cwd: Path, timeout_s: float = 60,
             env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "AURA_HOME": str(home), "PREFECT_HOME": str(home / "prefect"),
           **(env or {})}
    env.pop("AURA_DATABASE_URL", None)
    return subprocess.run([str(AURA), *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout_s, stdin=subprocess.DEVNULL)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "home").mkdir()
    return tmp_path


def error_line(result: subprocess.CompletedProcess) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert result.stdout == ""
    return lines[0]


def test_a_missing_script_file_is_one_clear_line(workdir):
    result = run_aura("render", "nope.txt", home=workdir / "home", cwd=workdir)
    assert result.returncode == 1
    assert error_line(result) == "aura: error: script file 'nope.txt' does not exist"


def test_an_empty_script_is_refused(workdir):
    (workdir / "empty.txt").write_text("# only a comment\n\n")
    result = run_aura("render", "empty.txt", home=workdir / "home", cwd=workdir)
    assert result.returncode == 1
    assert error_line(result) == "aura: error: empty.txt: the script has no text to speak"


def test_a_bad_tag_names_its_line_and_column(workdir):
    (workdir / "bad.txt").write_text("[joy] Fine.\nStill fine. [joy:2] Not fine.\n")
    result = run_aura("render", "bad.txt", home=workdir / "home", cwd=workdir)
    assert result.returncode == 1
    assert error_line(result) == ("aura: error: bad.txt: line 2, column 13: intensity 2 in "
                                  "[joy:2] is outside 0..1")


@pytest.mark.parametrize(("option", "value"), [
    ("--aspect", "4:3"), ("--resolution", "16k"), ("--quality", "ultra")])
def test_an_unknown_option_value_is_refused(workdir, option, value):
    (workdir / "s.txt").write_text("Hello.")
    result = run_aura("render", "s.txt", option, value, home=workdir / "home", cwd=workdir)
    assert result.returncode == 2
    line = error_line(result)
    assert line.startswith(f"aura: error: argument {option}: invalid choice: '{value}'")


def test_an_output_that_is_not_mp4_is_refused(workdir):
    (workdir / "s.txt").write_text("Hello.")
    result = run_aura("render", "s.txt", "-o", "out.avi", home=workdir / "home", cwd=workdir)
    assert result.returncode == 1
    assert error_line(result) == "aura: error: output 'out.avi' must end in .mp4"


def test_render_json_prints_one_object_and_writes_the_video(workdir):
    (workdir / "hello.txt").write_text("[joy] Hello from the command line!\n")
    sky = np.zeros((180, 320, 3), np.uint8)
    sky[:] = (200, 40, 30)  # BGR: a deep blue
    cv2.imwrite(str(workdir / "sky.png"), sky)
    result = run_aura("render", "hello.txt", "-o", "videos/hello.mp4", "--aspect", "16:9",
                      "--quality", "draft", "--background", "sky.png", "--json",
                      home=workdir / "home", cwd=workdir, timeout_s=300)
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert set(answer) == {"video", "duration_s", "job_id"}
    video = workdir / answer["video"]
    assert answer["video"] == "videos/hello.mp4" and video.is_file()
    facts = probe_mp4(video)
    assert (facts.width, facts.height) == (1280, 720)
    assert facts.video_duration_s == pytest.approx(answer["duration_s"], abs=0.05)
    assert not list(video.parent.glob(".*.part"))
    # x264 records its settings in the stream: draft quality is the ultrafast preset.
    assert b"subme=0" in video.read_bytes() and b"crf=26.0" in video.read_bytes()
    # The avatar stands in front of the picture given with --background.
    with av.open(str(video)) as container:
        corner = next(container.decode(video=0)).to_ndarray(format="rgb24")[:40, :40]
    assert np.abs(corner.astype(int) - (30, 40, 200)).max() <= 12


@pytest.mark.parametrize(("value", "message"), [
    ("blue", "aura: error: background 'blue' is neither a colour like '#1e90ff' nor "
             "'image:KEY' (a stored picture)"),
    ("missing.png", "aura: error: background picture 'missing.png' does not exist"),
])
def test_render_refuses_a_bad_background_before_any_work(workdir, value, message):
    (workdir / "s.txt").write_text("Hello.")
    result = run_aura("render", "s.txt", "--background", value, home=workdir / "home",
                      cwd=workdir)
    assert result.returncode == 1
    assert error_line(result) == message


ANALYZE_SCRIPT = ("# a demo\nUgh, the fridge smells of rotten fish. The meeting starts at nine.\n"
                  "[joy:0.8] What a wonderful day!\n")


def test_analyze_json_lists_every_sentence_with_its_emotion_and_source(workdir):
    (workdir / "s.txt").write_text(ANALYZE_SCRIPT)
    result = run_aura("analyze", "s.txt", "--json", home=workdir / "home", cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [
        {"text": "Ugh, the fridge smells of rotten fish.", "emotion": "disgust",
         "intensity": pytest.approx(0.75, abs=0.25), "source": "auto"},
        {"text": "The meeting starts at nine.", "emotion": "neutral", "intensity": 1.0,
         "source": "auto"},
        {"text": "What a wonderful day!", "emotion": "joy", "intensity": 0.8, "source": "tag"},
    ]


def test_analyze_prints_a_readable_table(workdir):
    (workdir / "s.txt").write_text(ANALYZE_SCRIPT)
    result = run_aura("analyze", "s.txt", home=workdir / "home", cwd=workdir)
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if "│" in line and "line" not in line]
    assert len(rows) == 3
    assert "disgust" in rows[0] and "auto" in rows[0]
    assert "neutral" in rows[1] and "The meeting starts at nine." in rows[1]
    assert "joy" in rows[2] and "0.80" in rows[2] and "tag" in rows[2]


def test_analyze_reports_a_markup_error_with_its_line_and_column(workdir):
    (workdir / "s.txt").write_text("Fine.\n  [joy:2] Too much.\n")
    result = run_aura("analyze", "s.txt", home=workdir / "home", cwd=workdir)
    assert result.returncode == 1
    assert error_line(result) == ("aura: error: s.txt: line 2, column 3: intensity 2 in "
                                  "[joy:2] is outside 0..1")


@pytest.fixture
def recording(workdir: Path) -> Path:
    import soundfile as sf

    from tests.support.audio import piper_speech

    speech, rate = piper_speech()
    path = workdir / "me.wav"
    sf.write(path, speech, rate)
    return path


def test_fx_bends_a_recording_into_a_wav(workdir, recording):
    result = run_aura("fx", "me.wav", "-o", "out/me-robot.wav", "--preset", "robot",
                      "--tempo", "1.25", "--json", home=workdir / "home", cwd=workdir)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["params"] == {"formant_ratio": 0.95, "tempo_ratio": 1.25, "robot": True}
    import soundfile as sf

    info = sf.info(workdir / "out" / "me-robot.wav")
    assert info.samplerate == 24_000 and info.duration == pytest.approx(report["duration_s"],
                                                                         abs=0.01)


@pytest.mark.parametrize(("args", "message"), [
    (["--pitch", "30"], "pitch_semitones: pitch shift 30.0 is outside ±24 semitones"),
    (["--formant", "0.2"], "formant_ratio: ratio 0.2 is outside 0.5–2.0"),
])
def test_fx_refuses_values_out_of_range_in_one_line(workdir, recording, args, message):
    result = run_aura("fx", "me.wav", "-o", "x.wav", *args, home=workdir / "home", cwd=workdir)
    assert result.returncode == 1
    assert error_line(result) == f"aura: error: {message}"


def test_fx_refuses_a_file_that_is_not_audio(workdir):
    (workdir / "notes.mp3").write_text("these are my notes")
    result = run_aura("fx", "notes.mp3", "-o", "x.wav", home=workdir / "home", cwd=workdir)
    assert result.returncode == 1
    assert "could not be read as audio" in error_line(result)


def test_voices_lists_the_catalogue(workdir):
    result = run_aura("voices", "--json", home=workdir / "home", cwd=workdir)
    assert result.returncode == 0, result.stderr
    catalogue = json.loads(result.stdout)
    assert {"joe", "joe-deep", "joe-bright"} <= {v["name"] for v in catalogue["voices"]}
    assert {"chipmunk", "giant", "robot", "telephone", "radio", "echo", "whisper"} <= {
        p["name"] for p in catalogue["presets"]}


def test_render_refuses_an_unknown_voice_before_any_work(workdir):
    (workdir / "s.txt").write_text("Hello.")
    result = run_aura("render", "s.txt", "--voice", "nobody", "--json",
                      home=workdir / "home", cwd=workdir)
    assert result.returncode == 1
    assert error_line(result).startswith("aura: error: there is no voice called 'nobody'")


def test_avatar_create_and_list(workdir):
    import cv2
    from skimage import data

    cv2.imwrite(str(workdir / "me.png"), cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(workdir / "cat.jpg"), cv2.cvtColor(data.chelsea(), cv2.COLOR_RGB2BGR))
    created = run_aura("avatar", "create", "me.png", "--name", "Me", "--json",
                       home=workdir / "home", cwd=workdir)
    assert created.returncode == 0, created.stderr
    report = json.loads(created.stdout)
    assert report["landmarks"] == 478

    refused = run_aura("avatar", "create", "cat.jpg", "--name", "Cat",
                       home=workdir / "home", cwd=workdir)
    assert refused.returncode == 1
    assert "no face was found in the photo" in error_line(refused)

    listed = run_aura("avatar", "list", "--json", home=workdir / "home", cwd=workdir)
    avatars = [(a["avatar_id"], a["name"]) for a in json.loads(listed.stdout)]
    assert avatars == [("stock:aura", "Aura (stock, drawn)"), ("stock:ben", "Ben (stock, drawn)"),
                       ("stock:cleo", "Cleo (stock, drawn)"), (report["avatar_id"], "Me")]


def test_avatar_create_picks_a_face_of_a_group_photo_with_face(workdir):
    from tests.support.uploads import group_photo

    photo, regions = group_photo()
    cv2.imwrite(str(workdir / "group.png"), cv2.cvtColor(photo, cv2.COLOR_RGB2BGR))
    largest = run_aura("avatar", "create", "group.png", "--name", "Us",
                       home=workdir / "home", cwd=workdir)
    chosen = run_aura("avatar", "create", "group.png", "--name", "Right", "--face", "3",
                      "--json", home=workdir / "home", cwd=workdir)
    beyond = run_aura("avatar", "create", "group.png", "--name", "Nobody", "--face", "4",
                      home=workdir / "home", cwd=workdir)

    assert largest.returncode == 0, largest.stderr
    assert largest.stdout.endswith(": 478 landmarks, face 2 of 3\n"), largest.stdout
    assert largest.stderr.splitlines() == [
        "aura: warning: found 3 faces: 1 (left), 2 (middle, largest, used), 3 (right); "
        "another can be chosen by its number",
        "aura: to use another face: aura avatar create group.png --name NAME --face K"]
    assert chosen.returncode == 0, chosen.stderr
    report = json.loads(chosen.stdout)
    assert report["face"] == 3 and [f["number"] for f in report["faces"]] == [1, 2, 3]
    assert report["warnings"] == ["found 3 faces: 1 (left), 2 (middle, largest), "
                                  "3 (right, used)"]
    x0, _, x1, _ = report["faces"][2]["box"]
    assert regions[2][0] <= x0 < x1 <= regions[2][2]
    assert chosen.stderr.splitlines() == [f"aura: warning: {report['warnings'][0]}"]
    assert beyond.returncode == 1
    assert error_line(beyond) == ("aura: error: there is no face 4 in the photo: it has 3 "
                                  "faces, numbered 1 to 3 from the left")
    listed = run_aura("avatar", "list", "--json", home=workdir / "home", cwd=workdir)
    assert [a["name"] for a in json.loads(listed.stdout)][3:] == ["Us", "Right"]


@pytest.mark.parametrize("value", ["0", "-1", "two"])
def test_a_face_number_that_is_not_one_up_is_refused_in_one_line(workdir, value):
    (workdir / "me.png").write_bytes(b"")
    result = run_aura("avatar", "create", "me.png", "--name", "Me", "--face", value,
                      home=workdir / "home", cwd=workdir)
    assert result.returncode == 2
    assert error_line(result) == (f"aura: error: argument --face: the face's number counts "
                                  f"from 1 (the leftmost face), not '{value}' (see 'aura "
                                  f"avatar create --help')")


def test_render_with_a_photo_avatar_passes_face_on(workdir):
    from tests.support.uploads import group_photo

    cv2.imwrite(str(workdir / "group.png"), cv2.cvtColor(group_photo()[0], cv2.COLOR_RGB2BGR))
    (workdir / "s.txt").write_text("Hello.")
    result = run_aura("render", "s.txt", "--avatar", "group.png", "--face", "4", "--json",
                      home=workdir / "home", cwd=workdir)
    assert result.returncode == 1
    assert error_line(result) == ("aura: error: there is no face 4 in the photo: it has 3 "
                                  "faces, numbered 1 to 3 from the left")
    assert not (workdir / "out").exists()


def test_render_refuses_face_without_a_photo_avatar(workdir):
    (workdir / "s.txt").write_text("Hello.")
    result = run_aura("render", "s.txt", "--face", "2", home=workdir / "home", cwd=workdir)
    assert result.returncode == 1
    assert error_line(result) == ("aura: error: --face picks a face in a photo given with "
                                  "--avatar PHOTO; 'stock:aura' is not a photo")


def test_token_prints_one_jwt_for_the_named_user_signed_with_the_local_secret(workdir):
    import uuid

    from core.auth import USER_NAMESPACE, decode_token

    home = workdir / "home"
    day = run_aura("token", "--user", "ada", home=home, cwd=workdir)
    minute = run_aura("token", "--user", "ada", "--ttl-s", "60", home=home, cwd=workdir)

    assert day.returncode == minute.returncode == 0, day.stderr + minute.stderr
    assert day.stdout.count("\n") == 1 and day.stdout.endswith("\n") and day.stderr == ""
    secret = (home / "jwt-secret").read_text().strip()  # made by the first, kept for the next
    claims = decode_token(day.stdout.strip(), secret)
    assert claims.sub == uuid.uuid5(USER_NAMESPACE, "ada")
    assert claims.exp - claims.iat == 24 * 3600
    shorter = decode_token(minute.stdout.strip(), secret)
    assert shorter.sub == claims.sub and shorter.exp - shorter.iat == 60


def test_a_render_that_cannot_reach_prefect_fails_its_job_in_one_line(workdir):
    (workdir / "hello.txt").write_text("Hello there.\n")
    result = run_aura("render", "hello.txt", "-o", "hello.mp4", "--quality", "draft",
                      home=workdir / "home", cwd=workdir,
                      env={"PREFECT_API_URL": "http://127.0.0.1:9/api",  # nothing listens
                           "PREFECT_CLIENT_MAX_RETRIES": "0"})

    assert result.returncode == 1
    assert error_line(result) == ("aura: error: prefect: the render could not start: Failed "
                                  "to reach API at http://127.0.0.1:9/api/")
    with sqlite3.connect(workdir / "home" / "aura.db") as db:
        [(status, error)] = db.execute("SELECT status, error FROM export_jobs").fetchall()
    assert status == "failed"  # not left queued
    assert error == "the render could not start: Failed to reach API at http://127.0.0.1:9/api/"
    assert not (workdir / "hello.mp4").exists()
