"""Storage: where artifacts live.

Shared behaviour is specified once and checked on both the local folder and S3 (moto's
server on loopback). S3 failures are real HTTP answers, injected by the flaky_s3 proxy.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from urllib.request import url2pathname

import httpx
import pytest
from boto3.s3.transfer import TransferConfig
from pydantic import BaseModel, SecretStr

from core.errors import InputError, PermanentError, TransientError, is_transient
from core.settings import S3Settings, Settings, get_settings
from core.storage import (
    ArtifactNotFoundError,
    InvalidKeyError,
    LocalStorage,
    S3Storage,
    Storage,
    content_key,
    get_storage,
)
from tests.support.s3 import (
    TEST_ACCESS_KEY_ID,
    TEST_SECRET_ACCESS_KEY,
    FlakyS3Proxy,
    unique_bucket_name,
)

MIB = 1024 * 1024
SMALL_PARTS = TransferConfig(
    multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB, num_download_attempts=1
)
"""Multipart from 5 MiB (S3's smallest part), so an 11 MiB file travels in 3 parts."""


@pytest.fixture(params=["local", "s3"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    if request.param == "local":
        return LocalStorage(tmp_path / "storage")
    return request.getfixturevalue("s3_storage")


@pytest.fixture
def stored_keys(s3_client: Any) -> Any:
    """Every object key physically present (temporary ones included)."""

    def keys(storage: Storage) -> list[str]:
        if isinstance(storage, LocalStorage):
            if not storage.root.exists():
                return []
            return sorted(
                path.relative_to(storage.root).as_posix()
                for path in storage.root.rglob("*")
                if path.is_file()
            )
        assert isinstance(storage, S3Storage)
        listing = s3_client.list_objects_v2(Bucket=storage.bucket)
        return sorted(item["Key"] for item in listing.get("Contents", []))

    return keys


def write_file(path: Path, size_bytes: int) -> bytes:
    data = os.urandom(size_bytes)
    path.write_bytes(data)
    return data


# --- round trips -------------------------------------------------------------------


def test_bytes_put_are_the_bytes_got(storage: Storage) -> None:
    storage.put_bytes("scripts/hello.txt", b"Hello, world!\n")

    assert storage.get_bytes("scripts/hello.txt") == b"Hello, world!\n"


def test_a_file_put_downloads_identical_into_new_folders(storage: Storage, tmp_path: Path) -> None:
    data = write_file(tmp_path / "voice.wav", 300_000)

    storage.put_file("voice/take.wav", tmp_path / "voice.wav", content_type="audio/wav")
    target = tmp_path / "fresh" / "folders" / "take.wav"
    returned = storage.download("voice/take.wav", target)

    assert returned == target
    assert target.read_bytes() == data


def test_a_second_put_replaces_the_first(storage: Storage) -> None:
    storage.put_bytes("k.bin", b"first")
    storage.put_bytes("k.bin", b"second")

    assert storage.get_bytes("k.bin") == b"second"


def test_empty_artifacts_are_stored(storage: Storage) -> None:
    storage.put_bytes("empty.bin", b"")

    assert storage.exists("empty.bin")
    assert storage.size_bytes("empty.bin") == 0
    assert storage.get_bytes("empty.bin") == b""


@pytest.mark.parametrize(
    "key",
    [
        "a",
        "video/ab/abcdef.mp4",
        "with spaces/ünïcode ✓.txt",
        "a/.hidden",
        "/".join(["x" * 255] * 4),
    ],
)
def test_unusual_but_valid_keys_round_trip(storage: Storage, key: str) -> None:
    storage.put_bytes(key, key.encode())

    assert storage.get_bytes(key) == key.encode()


# --- exists, size, delete ----------------------------------------------------------


def test_exists_and_size_follow_put_and_delete(storage: Storage) -> None:
    assert not storage.exists("clip.mp4")

    storage.put_bytes("clip.mp4", b"\x00" * 1234)
    assert storage.exists("clip.mp4")
    assert storage.size_bytes("clip.mp4") == 1234

    storage.delete("clip.mp4")
    assert not storage.exists("clip.mp4")


def test_deleting_a_missing_key_is_fine(storage: Storage) -> None:
    storage.delete("never/stored.bin")

    assert not storage.exists("never/stored.bin")


def test_a_folder_of_keys_is_not_itself_an_artifact(storage: Storage) -> None:
    storage.put_bytes("folder/inside.bin", b"x")

    assert not storage.exists("folder")
    storage.delete("folder")
    assert storage.exists("folder/inside.bin")


# --- local_path, copy, url -----------------------------------------------------------


def test_local_path_is_readable_inside_the_block(storage: Storage) -> None:
    storage.put_bytes("frames/pose.json", b'{"jawOpen": 0.4}')

    with storage.local_path("frames/pose.json") as path:
        assert path.read_bytes() == b'{"jawOpen": 0.4}'
        assert path.name == "pose.json"


def test_s3_local_path_removes_its_download_afterwards(s3_storage: S3Storage) -> None:
    s3_storage.put_bytes("clip.mp4", b"movie")

    with s3_storage.local_path("clip.mp4") as path:
        assert path.exists()
    assert not path.exists()


def test_local_local_path_is_the_stored_file(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    storage.put_bytes("clip.mp4", b"movie")

    with storage.local_path("clip.mp4") as path:
        assert path == tmp_path / "clip.mp4"
    assert path.exists()


def test_copy_makes_an_independent_duplicate(storage: Storage) -> None:
    storage.put_bytes("src.bin", b"original")
    storage.put_bytes("dst/copy.bin", b"to be replaced")

    storage.copy("src.bin", "dst/copy.bin")
    storage.put_bytes("src.bin", b"changed later")

    assert storage.get_bytes("dst/copy.bin") == b"original"


def test_local_url_is_a_file_uri_of_the_stored_file(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "storage")
    storage.put_bytes("out/final video.mp4", b"mp4 bytes")

    uri = storage.url("out/final video.mp4")

    assert uri.startswith("file://")
    assert Path(url2pathname(urlsplit(uri).path)).read_bytes() == b"mp4 bytes"


def test_s3_url_is_a_presigned_get_that_serves_the_object(s3_storage: S3Storage) -> None:
    s3_storage.put_bytes("out/final video.mp4", b"mp4 bytes")

    url = s3_storage.url("out/final video.mp4", expires_s=60)
    response = httpx.get(url)

    assert response.status_code == 200
    assert response.content == b"mp4 bytes"
    assert response.headers["content-type"] == "video/mp4"  # guessed from the suffix
    assert parse_qs(urlsplit(url).query)["X-Amz-Expires"] == ["60"]


def test_s3_keeps_an_explicit_content_type(s3_storage: S3Storage) -> None:
    s3_storage.put_bytes("data.bin", b"{}", content_type="application/json")

    response = httpx.get(s3_storage.url("data.bin"))

    assert response.headers["content-type"] == "application/json"


@pytest.mark.parametrize("expires_s", [0, -5, 7 * 24 * 3600 + 1])
def test_s3_url_lifetime_must_be_between_a_second_and_a_week(
    s3_storage: S3Storage, expires_s: int
) -> None:
    with pytest.raises(ValueError, match=f"URL lifetime {expires_s} s is out of range"):
        s3_storage.url("clip.mp4", expires_s=expires_s)


# --- missing keys --------------------------------------------------------------------

MISSING_KEY_OPERATIONS = {
    "get_bytes": lambda storage, tmp: storage.get_bytes("missing/thing.mp4"),
    "download": lambda storage, tmp: storage.download("missing/thing.mp4", tmp / "x.mp4"),
    "local_path": lambda storage, tmp: storage.local_path("missing/thing.mp4").__enter__(),
    "size_bytes": lambda storage, tmp: storage.size_bytes("missing/thing.mp4"),
    "copy": lambda storage, tmp: storage.copy("missing/thing.mp4", "elsewhere.mp4"),
}


@pytest.mark.parametrize("operation", list(MISSING_KEY_OPERATIONS))
def test_a_missing_key_raises_not_found_naming_key_and_storage(
    storage: Storage, tmp_path: Path, operation: str
) -> None:
    with pytest.raises(ArtifactNotFoundError) as raised:
        MISSING_KEY_OPERATIONS[operation](storage, tmp_path)

    assert raised.value.key == "missing/thing.mp4"
    assert raised.value.storage == storage.name
    message = str(raised.value)
    assert "'missing/thing.mp4'" in message
    where = storage.bucket if isinstance(storage, S3Storage) else str(storage.root)
    assert where in message
    assert not storage.exists("elsewhere.mp4")
    assert not (tmp_path / "x.mp4").exists()


# --- key validation ------------------------------------------------------------------

INVALID_KEYS = {
    "": "is empty",
    "/etc/passwd": "is absolute",
    "a/../../b": "'..' segment",
    "..": "'..' segment",
    "a\\b": "backslash",
    "a\x00b": "NUL",
    "a//b": "empty or '.' segment",
    "a/": "empty or '.' segment",
    "./a": "empty or '.' segment",
    ".tmp/x": "reserved for uploads",
    "/".join(["x" * 200] * 6): "longer than 1024 bytes",
    "x" * 256: "segment longer than 255 bytes",
}


@pytest.mark.parametrize("key", list(INVALID_KEYS), ids=lambda key: repr(key)[:20])
def test_invalid_keys_are_refused_with_a_message_naming_them(
    storage: Storage, tmp_path: Path, key: str
) -> None:
    attempts = [
        lambda: storage.put_bytes(key, b"x"),
        lambda: storage.put_file(key, tmp_path / "any"),
        lambda: storage.get_bytes(key),
        lambda: storage.exists(key),
        lambda: storage.delete(key),
        lambda: storage.url(key),
        lambda: storage.copy("fine.bin", key),
        lambda: storage.download(key, tmp_path / "out"),
    ]
    for attempt in attempts:
        with pytest.raises(InvalidKeyError) as raised:
            attempt()
        assert repr(key) in str(raised.value)
        assert INVALID_KEYS[key] in str(raised.value)
        assert isinstance(raised.value, InputError)


# --- content keys --------------------------------------------------------------------


class Voice(BaseModel):
    voice_id: str
    rate: float
    tags: dict[str, int]


@dataclass
class Options:
    fps: int
    crf: int


BASE_PARTS: tuple[object, ...] = (
    "Hello there",
    Voice(voice_id="joe", rate=1.0, tags={"a": 1, "b": 2}),
    {"fps": 30, "size": [512, 512]},
    Path("voices/joe.onnx"),
    b"\x00\x01audio",
)


def test_content_key_is_a_sharded_sha256_with_the_suffix() -> None:
    key = content_key("voice", *BASE_PARTS, suffix=".wav")

    assert re.fullmatch(r"voice/([0-9a-f]{2})/\1[0-9a-f]{62}\.wav", key)


def test_content_key_is_the_same_for_the_same_inputs() -> None:
    same_model_other_dict_order = Voice(voice_id="joe", rate=1.0, tags={"b": 2, "a": 1})
    same_mapping_other_order = {"size": (512, 512), "fps": 30}

    assert content_key("voice", *BASE_PARTS) == content_key("voice", *BASE_PARTS)
    assert content_key("voice", *BASE_PARTS) == content_key(
        "voice",
        "Hello there",
        same_model_other_dict_order,
        same_mapping_other_order,
        Path("voices") / "joe.onnx",
        bytearray(b"\x00\x01audio"),
    )


def test_a_pydantic_model_counts_as_its_json_dump() -> None:
    voice = Voice(voice_id="joe", rate=1.0, tags={})

    assert content_key("k", voice) == content_key("k", voice.model_dump(mode="json"))


def test_a_dataclass_counts_as_its_fields() -> None:
    assert content_key("k", Options(fps=30, crf=20)) == content_key("k", {"fps": 30, "crf": 20})


CHANGES = {
    "text": ("Hello there!", *BASE_PARTS[1:]),
    "model field": (
        BASE_PARTS[0],
        Voice(voice_id="joe", rate=1.1, tags={"a": 1, "b": 2}),
        *BASE_PARTS[2:],
    ),
    "nested value": (*BASE_PARTS[:2], {"fps": 30, "size": [512, 513]}, *BASE_PARTS[3:]),
    "path": (*BASE_PARTS[:3], Path("voices/amy.onnx"), BASE_PARTS[4]),
    "bytes": (*BASE_PARTS[:4], b"\x00\x02audio"),
    "order of parts": (BASE_PARTS[1], BASE_PARTS[0], *BASE_PARTS[2:]),
    "one more part": (*BASE_PARTS, None),
    "one part fewer": BASE_PARTS[:-1],
    "bytes vs text": (*BASE_PARTS[:4], "\x00\x01audio"),
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_any_change_of_inputs_changes_the_content_key(change: str) -> None:
    assert content_key("voice", *CHANGES[change]) != content_key("voice", *BASE_PARTS)


def test_values_of_different_types_do_not_collide() -> None:
    assert content_key("k", 1) != content_key("k", "1")
    assert content_key("k", None) != content_key("k", "null")
    assert content_key("k", b"abc") != content_key("k", "abc")
    assert content_key("k", ["a", "b"]) != content_key("k", "a", "b")


def test_the_kind_and_suffix_are_part_of_the_key() -> None:
    assert content_key("voice", "x") != content_key("video", "x")
    assert content_key("voice", "x", suffix=".wav") != content_key("voice", "x")
    assert content_key("voice", "x", suffix=".wav").startswith("voice/")


def test_content_key_is_the_same_in_another_process() -> None:
    # Set order and str hashes differ between processes (hash randomisation).
    code = (
        "from core.storage import content_key; "
        "print(content_key('k', {'joy', 'anger', 'fear'}, {'b': 1, 'a': 2}))"
    )
    keys = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
            cwd=Path(__file__).resolve().parents[2],
        ).stdout.strip()
        for seed in ("1", "2")
    }

    assert keys == {content_key("k", {"fear", "joy", "anger"}, {"a": 2, "b": 1})}


def test_content_key_refuses_what_it_cannot_hash_stably() -> None:
    with pytest.raises(TypeError, match="cannot hash a object"):
        content_key("k", object())


@pytest.mark.parametrize("suffix", ["mp4", "./mp4", ".a/b"])
def test_content_key_refuses_a_malformed_suffix(suffix: str) -> None:
    with pytest.raises(InvalidKeyError, match="suffix"):
        content_key("video", "x", suffix=suffix)


def test_content_key_refuses_a_malformed_kind() -> None:
    with pytest.raises(InvalidKeyError, match="'../video'"):
        content_key("../video", "x")


# --- atomic writes -------------------------------------------------------------------


def test_putting_a_file_that_does_not_exist_stores_nothing(
    storage: Storage, tmp_path: Path, stored_keys: Any
) -> None:
    storage.put_bytes("k.bin", b"old")

    with pytest.raises(FileNotFoundError):
        storage.put_file("k.bin", tmp_path / "no-such-file.wav")
    with pytest.raises(FileNotFoundError):
        storage.put_file("new.bin", tmp_path / "no-such-file.wav")

    assert storage.get_bytes("k.bin") == b"old"
    assert stored_keys(storage) == ["k.bin"]


def test_local_write_failing_after_the_data_is_written_leaves_no_trace(
    tmp_path: Path, stored_keys: Any
) -> None:
    storage = LocalStorage(tmp_path / "storage")
    storage.put_bytes("a/b.bin", b"inside")

    # "a" is a folder, so the final rename fails after the temporary file was written.
    with pytest.raises(IsADirectoryError):
        storage.put_bytes("a", b"\x01" * 100_000)

    assert stored_keys(storage) == ["a/b.bin"]
    assert storage.get_bytes("a/b.bin") == b"inside"


def test_s3_upload_refused_with_503_is_transient_and_leaves_nothing(
    flaky_s3: FlakyS3Proxy, stored_keys: Any, tmp_path: Path
) -> None:
    storage = flaky_s3.storage()
    write_file(tmp_path / "voice.wav", 10_000)

    for put in (
        lambda: storage.put_bytes("out/a.bin", b"data"),
        lambda: storage.put_file("out/a.bin", tmp_path / "voice.wav"),
    ):
        flaky_s3.fail_next(count=1, status=503, method="PUT")
        with pytest.raises(TransientError) as raised:
            put()

        assert raised.value.status_code == 503
        assert is_transient(raised.value)
        assert storage.bucket in str(raised.value) and "'out/a.bin'" in str(raised.value)
        assert not storage.exists("out/a.bin")
        assert stored_keys(storage) == []

    assert flaky_s3.count(method="PUT", path_contains="/.tmp/") == 2  # no hidden retries


def test_s3_upload_works_again_once_the_failure_passes(flaky_s3: FlakyS3Proxy) -> None:
    storage = flaky_s3.storage()
    flaky_s3.fail_next(count=1, status=503, method="PUT")

    with pytest.raises(TransientError):
        storage.put_bytes("a.bin", b"data")
    storage.put_bytes("a.bin", b"data")

    assert storage.get_bytes("a.bin") == b"data"


def test_s3_failed_publish_copy_deletes_the_temporary_upload(
    flaky_s3: FlakyS3Proxy, stored_keys: Any
) -> None:
    storage = flaky_s3.storage()
    flaky_s3.fail_next(count=1, status=500, method="PUT", path_contains="/out/final.bin")

    with pytest.raises(TransientError, match="publish"):
        storage.put_bytes("out/final.bin", b"data")

    assert flaky_s3.count(method="PUT", path_contains="/.tmp/") == 1  # the upload went in
    assert stored_keys(storage) == []


def test_s3_multipart_upload_failing_one_part_leaves_nothing(
    flaky_s3: FlakyS3Proxy, stored_keys: Any, s3_client: Any, tmp_path: Path
) -> None:
    storage = flaky_s3.storage(transfer_config=SMALL_PARTS)
    write_file(tmp_path / "big.mp4", 11 * MIB)
    flaky_s3.fail_next(count=1, status=503, method="PUT", path_contains="partNumber=2")

    with pytest.raises(TransientError):
        storage.put_file("out/big.mp4", tmp_path / "big.mp4")

    assert stored_keys(storage) == []
    assert s3_client.list_multipart_uploads(Bucket=storage.bucket).get("Uploads", []) == []


def test_a_leftover_temporary_does_not_fail_a_published_upload(
    flaky_s3: FlakyS3Proxy, stored_keys: Any, caplog: pytest.LogCaptureFixture
) -> None:
    storage = flaky_s3.storage()
    flaky_s3.fail_next(count=1, status=503, method="DELETE")

    storage.put_bytes("a.bin", b"data")

    assert storage.get_bytes("a.bin") == b"data"
    assert [key.split("/")[0] for key in stored_keys(storage)] == [".tmp", "a.bin"]
    assert "could not delete temporary upload" in caplog.text


# --- how S3 failures are classified --------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (503, "SlowDown", TransientError),
        (500, "InternalError", TransientError),
        (502, "BadGateway", TransientError),
        (429, "TooManyRequests", TransientError),
        (400, "RequestTimeout", TransientError),
        (403, "AccessDenied", PermanentError),
        (400, "InvalidRequest", PermanentError),
        (404, "NoSuchKey", ArtifactNotFoundError),
    ],
)
def test_s3_answers_are_classified(
    flaky_s3: FlakyS3Proxy, status: int, code: str, expected: type[Exception]
) -> None:
    storage = flaky_s3.storage()
    storage.put_bytes("a.bin", b"data")
    flaky_s3.fail_next(count=1, status=status, code=code, method="GET")

    with pytest.raises(expected) as raised:
        storage.get_bytes("a.bin")

    assert is_transient(raised.value) == (expected is TransientError)
    if expected is not ArtifactNotFoundError:
        assert raised.value.status_code == status  # type: ignore[attr-defined]
        assert code in str(raised.value)


def test_s3_upload_refused_with_403_is_permanent(flaky_s3: FlakyS3Proxy, stored_keys: Any) -> None:
    storage = flaky_s3.storage()
    flaky_s3.fail_next(count=1, status=403, method="PUT")

    with pytest.raises(PermanentError, match="refused to upload 'a.bin'.*403 AccessDenied"):
        storage.put_bytes("a.bin", b"data")

    assert stored_keys(storage) == []


def test_a_bucket_that_does_not_exist_is_a_permanent_error(moto_server: str) -> None:
    bucket = unique_bucket_name()
    storage = S3Storage(
        bucket,
        endpoint_url=moto_server,
        access_key_id=TEST_ACCESS_KEY_ID,
        secret_access_key=TEST_SECRET_ACCESS_KEY,
    )

    with pytest.raises(PermanentError, match=f"'{bucket}'.*bucket does not exist"):
        storage.put_bytes("a.bin", b"data")


def test_an_unreachable_endpoint_is_transient() -> None:
    with socket.socket() as probe:  # a port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    storage = S3Storage(
        "bucket",
        endpoint_url=f"http://127.0.0.1:{port}",
        access_key_id=TEST_ACCESS_KEY_ID,
        secret_access_key=TEST_SECRET_ACCESS_KEY,
        connect_timeout_s=2,
    )

    with pytest.raises(TransientError, match="connection to S3 failed"):
        storage.get_bytes("a.bin")


# --- big files: boto3 managed (multipart) transfers ----------------------------------


def test_a_file_above_the_multipart_threshold_round_trips(
    flaky_s3: FlakyS3Proxy, tmp_path: Path
) -> None:
    storage = flaky_s3.storage(transfer_config=SMALL_PARTS)
    data = write_file(tmp_path / "big.mp4", 11 * MIB)

    storage.put_file("video/big.mp4", tmp_path / "big.mp4")
    storage.copy("video/big.mp4", "video/copy.mp4")
    storage.download("video/copy.mp4", tmp_path / "back.mp4")

    assert (tmp_path / "back.mp4").read_bytes() == data
    assert storage.size_bytes("video/copy.mp4") == 11 * MIB
    # 3 parts each for the upload, its publishing copy, and the copy asked for.
    assert flaky_s3.count(method="PUT", path_contains="partNumber=") == 9
    ranged_gets = [r for r in flaky_s3.requests if r.method == "GET" and r.status == 206]
    assert len(ranged_gets) == 3


# --- the test proxy itself -----------------------------------------------------------


def test_the_flaky_proxy_forwards_a_chunked_upload(flaky_s3: FlakyS3Proxy) -> None:
    storage = flaky_s3.storage()
    url = storage._client.generate_presigned_url(
        "put_object", Params={"Bucket": storage.bucket, "Key": "chunked.bin"}
    )
    parts = [b"a" * 70_000, b"b" * 5, b"c" * 1]

    response = httpx.put(url, content=iter(parts))  # an iterator is sent chunked

    assert response.status_code == 200
    assert storage.get_bytes("chunked.bin") == b"".join(parts)


# --- choosing a storage --------------------------------------------------------------


def test_storages_satisfy_the_protocol(tmp_path: Path, s3_storage: S3Storage) -> None:
    assert isinstance(LocalStorage(tmp_path), Storage)
    assert isinstance(s3_storage, Storage)


def test_get_storage_gives_a_local_folder_in_home_by_default(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, _env_file=None)  # type: ignore[call-arg]

    storage = get_storage(settings)
    storage.put_bytes("a.bin", b"x")

    assert storage.name == "local"
    assert (tmp_path / "storage" / "a.bin").read_bytes() == b"x"


def test_get_storage_reads_the_process_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AURA_STORAGE", "local")
    monkeypatch.setenv("AURA_STORAGE_DIR", str(tmp_path / "elsewhere"))
    get_settings.cache_clear()
    try:
        storage = get_storage()
    finally:
        get_settings.cache_clear()

    assert isinstance(storage, LocalStorage)
    assert storage.root == (tmp_path / "elsewhere").resolve()


def test_get_storage_gives_s3_from_the_s3_settings(
    moto_server: str, s3_client: Any, tmp_path: Path
) -> None:
    bucket = unique_bucket_name()
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        home=tmp_path,
        storage="s3",
        s3=S3Settings(
            bucket=bucket,
            prefix="/team-a/",
            endpoint_url=moto_server,
            access_key_id=SecretStr(TEST_ACCESS_KEY_ID),
            secret_access_key=SecretStr(TEST_SECRET_ACCESS_KEY),
            url_expiry_s=120,
        ),
    )

    storage = get_storage(settings)
    assert isinstance(storage, S3Storage)
    storage.create_bucket()
    storage.put_bytes("out/a.bin", b"x")

    assert storage.name == "s3"
    listing = s3_client.list_objects_v2(Bucket=bucket)["Contents"]
    assert [item["Key"] for item in listing] == ["team-a/out/a.bin"]
    assert parse_qs(urlsplit(storage.url("out/a.bin")).query)["X-Amz-Expires"] == ["120"]
    assert httpx.get(storage.url("out/a.bin")).content == b"x"
