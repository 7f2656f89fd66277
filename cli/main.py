"""The `aura` command line: the same flows as the API, run in this process.

    aura render SCRIPT [-o OUT.mp4] [--aspect 9:16|16:9|1:1] [--resolution 720p|1080p]
                [--avatar ID|PHOTO [--face K]] [--voice NAME|RECORDING]
                [--background COLOUR|PICTURE] [--captions] [--quality draft|standard|high]
                [--json]
    aura analyze SCRIPT [--json]
    aura fx IN -o OUT.wav [--preset NAME] [--pitch N] [--formant R] [--tempo R] [--json]
    aura voices [--json]
    aura avatar create PHOTO --name NAME [--face K] [--json]
    aura avatar list [--json]
    aura token --user NAME [--ttl-s SECONDS]
    aura serve [--port 8000] [--prefect-port 4200] [--workers N] [--no-runner]

``aura render --voice`` takes a voice from the catalogue (``aura voices``) or an audio file:
the person's own recording, spoken instead of TTS.

A photo with several faces makes an avatar of the largest, with a warning (on stderr)
that numbers the faces from the left; ``--face K`` picks face K instead.

``aura token`` prints a bearer token for the API, alone on stdout, signed with the API's
secret (``AURA_JWT_SECRET``, or the local one in ``AURA_HOME``); it lasts 24 hours unless
``--ttl-s`` says otherwise.

Errors a person can cause (missing file, empty script, bad option) end with one line on
stderr and a non-zero exit code: 2 for a wrong command line, 1 for everything else.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import uuid
from pathlib import Path
from typing import Any, NoReturn

from core.errors import AuraError, InputError, TransientError
from models.domain import RenderSpec

ASPECTS = ("9:16", "16:9", "1:1")
RESOLUTIONS = ("720p", "1080p", "4k", "8k")
QUALITIES = ("draft", "standard", "high")
TOKEN_TTL_S = 24 * 3600
"""Local tokens last a working day; Supabase's own last an hour."""


def face_number(value: str) -> int:
    """``--face``: a face's number, 1 up (argparse refuses anything else in one line)."""
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(
            f"the face's number counts from 1 (the leftmost face), not '{value}'")
    return number


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"aura: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="aura", description="AuraStudio: scripts become talking-avatar videos.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    render = commands.add_parser("render", help="render a script to an MP4")
    render.add_argument("script", type=Path, help="script file (AuraStudio markup)")
    render.add_argument("-o", "--output", type=Path,
                        help="where to write the MP4 (default: out/<script name>.mp4)")
    render.add_argument("--aspect", choices=ASPECTS, default="9:16")
    render.add_argument("--resolution", choices=RESOLUTIONS, default="720p",
                        help="720p, 1080p, 4k (2160 px short side); 8k where memory allows")
    render.add_argument("--captions", action="store_true",
                        help="burn in captions from the spoken words")
    render.add_argument("--quality", choices=QUALITIES, default="standard",
                        help="encoder effort: draft (fastest), standard, high (smallest)")
    render.add_argument("--json", action="store_true",
                        help='print one JSON object: {"video", "duration_s", "job_id"}')
    render.add_argument("--voice", metavar="NAME|RECORDING",
                        help="a voice from 'aura voices', or an audio file of your own "
                             "recording to use instead of TTS")
    render.add_argument("--avatar", metavar="ID|PHOTO", default="stock:aura",
                        help="an avatar id from 'aura avatar list', or a photo to make one "
                             "from (default: stock:aura)")
    render.add_argument("--face", type=face_number, metavar="K",
                        help="with --avatar PHOTO: which face of several, numbered from the "
                             "left (default: the largest)")
    render.add_argument("--background", metavar="COLOUR|PICTURE",
                        help="what the avatar stands in front of: a colour like '#1e90ff', "
                             "or a picture file (default: the avatar's own)")
    render.add_argument("--effect", metavar="PRESET",
                        help="a trickster preset applied to the voice (see 'aura voices')")
    render.add_argument("-v", "--verbose", action="store_true",
                        help="show Prefect's logs on the terminal")
    fx = commands.add_parser("fx", help="bend a recording with trickster voice effects")
    fx.add_argument("input", type=Path, help="audio file (WAV, MP3, M4A, OGG, WebM, FLAC)")
    fx.add_argument("-o", "--output", type=Path, required=True, help="where to write the WAV")
    fx.add_argument("--preset", help="a trickster preset (see 'aura voices')")
    fx.add_argument("--pitch", type=float, metavar="SEMITONES",
                    help="pitch shift in semitones, -24..24")
    fx.add_argument("--formant", type=float, metavar="RATIO",
                    help="formant shift ratio, 0.5..2.0 (above 1: smaller, brighter)")
    fx.add_argument("--tempo", type=float, metavar="RATIO",
                    help="speed ratio, 0.5..2.0 (above 1: faster), pitch unchanged")
    fx.add_argument("--json", action="store_true",
                    help='print one JSON object: {"output", "duration_s", "params"}')
    fx.add_argument("-v", "--verbose", action="store_true",
                    help="show Prefect's logs on the terminal")
    avatar = commands.add_parser("avatar", help="make and list avatars")
    avatar_commands = avatar.add_subparsers(dest="avatar_command", required=True,
                                            parser_class=_Parser)
    create = avatar_commands.add_parser("create", help="make an avatar from a photo")
    create.add_argument("photo", type=Path, help="a photo of one face (JPEG, PNG, WebP, ...)")
    create.add_argument("--name", required=True, help="what to call the avatar")
    create.add_argument("--face", type=face_number, metavar="K",
                        help="which face of a photo with several, numbered from the left "
                             "(default: the largest)")
    create.add_argument("--json", action="store_true",
                        help='print {"avatar_id": ID, "landmarks": 478, "face": K, '
                             '"faces": [{"number", "box"}, ...], "warnings": [...]}')
    listing = avatar_commands.add_parser("list", help="list the stock and your avatars")
    listing.add_argument("--json", action="store_true", help="print a JSON list")
    voices = commands.add_parser("voices", help="list the voices and trickster presets")
    voices.add_argument("--json", action="store_true",
                        help='print {"voices": [...], "presets": [...]}')
    analyze = commands.add_parser(
        "analyze", help="show the emotion of every sentence (AURA_EMOTION picks the provider)")
    analyze.add_argument("script", type=Path, help="script file (AuraStudio markup)")
    analyze.add_argument("--json", action="store_true",
                         help='print a JSON list of {"text", "emotion", "intensity", "source"}')
    token = commands.add_parser("token", help="print a bearer token for the API")
    token.add_argument("--user", required=True, metavar="NAME",
                       help="who the token is for: a name (always the same user id) or a "
                            "user id (UUID)")
    token.add_argument("--ttl-s", type=int, default=TOKEN_TTL_S, metavar="SECONDS",
                       help=f"how long the token is valid (default: {TOKEN_TTL_S}, a day)")
    serve = commands.add_parser(
        "serve", help="run the Prefect server, a runner for the deployments and the API")
    serve.add_argument("--port", type=int, default=8000, help="the API's port (default 8000)")
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--prefect-port", type=int, default=4200,
                       help="the Prefect server's port, unless PREFECT_API_URL is set "
                            "(default 4200)")
    serve.add_argument("--workers", type=int, default=1,
                       help="API worker processes (default 1)")
    serve.add_argument("--no-runner", action="store_true",
                       help="do not serve the deployments here: workers of the work pool "
                            "run the flows (prefect deploy --all; README: Scaling out)")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    show_bars = not getattr(args, "json", False) and sys.stderr.isatty()
    # Before anything imports Prefect, which reads its logging settings once.
    _quiet_prefect_console(verbose=getattr(args, "verbose", False),
                           quiet=getattr(args, "json", False) or show_bars
                           or args.command != "render")
    try:
        if args.command == "render":
            render_command(args)
        elif args.command == "analyze":
            analyze_command(args)
        elif args.command == "fx":
            fx_command(args)
        elif args.command == "voices":
            asyncio.run(_voices(as_json=args.json))
        elif args.command == "avatar":
            avatar_command(args)
        elif args.command == "token":
            token_command(args)
        elif args.command == "serve":
            from cli.serve import serve

            raise SystemExit(serve(host=args.host, port=args.port,
                                   prefect_port=args.prefect_port, workers=args.workers,
                                   runner=not args.no_runner))
    except (AuraError, OSError) as exc:
        _fail(_plain(exc))
    except KeyboardInterrupt:
        _fail("interrupted")


def _fail(message: str) -> NoReturn:
    print(f"aura: error: {message}", file=sys.stderr)
    raise SystemExit(1)


def _plain(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror and exc.filename:
        return f"{exc.filename}: {exc.strerror.lower()}"
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def read_script(path: Path) -> str:
    """The script's text, checked for the mistakes a person can make."""
    from tasks.emotion.markup import parse_script

    if not path.exists():
        raise InputError(f"script file '{path}' does not exist")
    if not path.is_file():
        raise InputError(f"'{path}' is not a file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"script file '{path}' is not UTF-8 text") from exc
    try:
        parse_script(text)
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from exc
    return text


def render_command(args: argparse.Namespace) -> None:
    text = read_script(args.script)
    output: Path = args.output or Path("out") / f"{args.script.stem}.mp4"
    if output.suffix.lower() != ".mp4":
        raise InputError(f"output '{output}' must end in .mp4")
    if output.exists() and output.is_dir():
        raise InputError(f"output '{output}' is a folder")
    from core.settings import get_settings

    spec = RenderSpec(aspect=args.aspect, resolution=args.resolution,
                      fps=get_settings().video.fps, avatar=args.avatar, quality=args.quality,
                      captions=args.captions, background=_background(args.background))
    photo = _photo_path(args.avatar)
    if args.face is not None and photo is None:
        raise InputError(f"--face picks a face in a photo given with --avatar PHOTO; "
                         f"'{args.avatar}' is not a photo")
    recording = _recording_path(args.voice)
    if recording is not None:
        from tasks.voice.recording import load_recording

        load_recording(recording)  # refuse a bad file before any work starts
    show_bars = not args.json and sys.stderr.isatty()
    result = asyncio.run(_render(text, spec, output, show_bars=show_bars, voice=args.voice,
                                 recording=recording, effect=args.effect, photo=photo,
                                 face=args.face))
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{result['video']} ({result['duration_s']:.2f} s, job {result['job_id']})")


AUDIO_SUFFIXES = frozenset({".wav", ".mp3", ".m4a", ".aac", ".ogg", ".opus", ".webm",
                            ".flac", ".mp4"})
RECORDING_PREFIX = "recording:"


def _local_file(value: str | None, suffixes: frozenset[str], what: str) -> Path | None:
    """The file an option names, when it names a file (a known suffix, an existing path,
    or a '/') rather than something from a catalogue; a named file must exist."""
    if not value:
        return None
    path = Path(value)
    if path.suffix.lower() in suffixes or path.exists() or "/" in value:
        if not path.is_file():
            raise InputError(f"{what} '{value}' does not exist")
        return path
    return None


def _background(value: str | None) -> str | None:
    """``--background`` as ``RenderSpec.background``: a colour as given, a picture file
    checked and stored (``image:KEY``)."""
    from models.domain import BACKGROUND_IMAGE_PREFIX, check_background

    picture = _local_file(value, PHOTO_SUFFIXES, "background picture")
    if picture is None:
        try:
            return check_background(value)
        except ValueError as exc:
            raise InputError(str(exc)) from None
    from tasks.avatar.photo import load_photo

    load_photo(picture.read_bytes(), name=picture.name, what="picture")  # refuse it now
    return BACKGROUND_IMAGE_PREFIX + _upload(picture)[0]


def _recording_path(voice: str | None) -> Path | None:
    """The file ``--voice`` names, when it names a file rather than a catalogue voice."""
    return _local_file(voice, AUDIO_SUFFIXES, "recording")


def _upload(path: Path) -> tuple[str, bool]:
    """Put a local file into storage under a key named by its content; returns the key
    and whether this call stored it (False when it was there already)."""
    from core.storage import content_key, get_storage
    from tasks.voice.recording import file_digest

    key = content_key("uploads", file_digest(path), suffix=path.suffix.lower())
    storage = get_storage()
    if storage.exists(key):
        return key, False
    storage.put_file(key, path, "application/octet-stream")
    return key, True


PHOTO_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff",
                            ".heic"})


def _photo_path(avatar: str) -> Path | None:
    """The photo ``--avatar`` names, when it names a file rather than an avatar id."""
    if avatar.startswith("stock:"):
        return None
    return _local_file(avatar, PHOTO_SUFFIXES, "photo")


def avatar_command(args: argparse.Namespace) -> None:
    if args.avatar_command == "create":
        if not args.photo.is_file():
            raise InputError(f"photo '{args.photo}' does not exist")
        created = asyncio.run(_with_database(_create_avatar(args.photo, args.name,
                                                            args.face)))
        _warn(created, chosen=args.face is not None,
              again=f"aura avatar create {args.photo} --name NAME --face K")
        if args.json:
            print(json.dumps({"avatar_id": str(created.avatar_id),
                              "landmarks": created.landmarks, "face": created.face,
                              "faces": [f.model_dump() for f in created.faces],
                              "warnings": created.warnings}))
        else:
            of = f", face {created.face} of {len(created.faces)}" if len(
                created.faces) > 1 else ""
            print(f"avatar {created.avatar_id} '{created.name}': "
                  f"{created.landmarks} landmarks{of}")
        return
    rows = asyncio.run(_with_database(_list_avatars()))
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    for row in rows:
        print(f"  {row['avatar_id']:<38} {row['name']}")


async def _with_database(work: Any) -> Any:
    from core.db import dispose_engines
    from models.schema import upgrade_database

    try:
        await upgrade_database()
        return await work
    finally:
        await dispose_engines()


def _warn(created: Any, *, chosen: bool, again: str) -> None:
    """The reconstruction's warnings on stderr, and how to pick another of several faces."""
    for warning in created.warnings:
        print(f"aura: warning: {warning}", file=sys.stderr)
    if len(created.faces) > 1 and not chosen:
        print(f"aura: to use another face: {again}", file=sys.stderr)


async def _create_avatar(photo: Path, name: str, face: int | None = None) -> Any:
    """Upload the photo and run the reconstruct-avatar flow (face number ``face``, or
    the largest); a refused photo leaves nothing behind (its upload is removed again)."""
    from core.storage import get_storage
    from flows.reconstruct_avatar import reconstruct_avatar

    storage = get_storage()
    key, stored = await asyncio.to_thread(_upload, photo)
    try:
        return await reconstruct_avatar(key, name, face=face)
    except BaseException:
        if stored:
            await asyncio.to_thread(storage.delete, key)
        raise


async def _list_avatars() -> list[dict[str, Any]]:
    from core.db import session_scope
    from tasks.avatar.actors import list_actors, sync_stock_actors

    async with session_scope() as session:
        stock = await sync_stock_actors(session)
        own = [row for row in await list_actors(session) if not row.is_stock]
    return ([{"avatar_id": row.style["handle"], "name": f"{row.name} (stock, drawn)",
              "stock": True, "row_id": str(row.id)} for row in stock]
            + [{"avatar_id": str(row.id), "name": row.name, "stock": False} for row in own])


def fx_command(args: argparse.Namespace) -> None:
    from tasks.voice.recording import load_recording
    from tasks.voice.trickster import make_params

    if args.output.suffix.lower() != ".wav":
        raise InputError(f"output '{args.output}' must end in .wav")
    if args.output.exists() and args.output.is_dir():
        raise InputError(f"output '{args.output}' is a folder")
    explicit = {"pitch_semitones": args.pitch, "formant_ratio": args.formant,
                "tempo_ratio": args.tempo}
    make_params(**{k: v for k, v in explicit.items() if v is not None})  # range check
    if not args.input.is_file():
        raise InputError(f"recording '{args.input}' does not exist")
    load_recording(args.input)  # refuse a bad file before any work starts
    result = asyncio.run(_fx(args.input, args.output, args.preset, explicit))
    if args.json:
        print(json.dumps(result))
    else:
        effect = result["params"] or "no effect"
        print(f"{result['output']} ({result['duration_s']:.2f} s, {effect})")


async def _fx(source: Path, output: Path, preset: str | None,
              explicit: dict[str, float | None]) -> dict[str, Any]:
    from core.db import dispose_engines
    from core.storage import get_storage
    from flows.trickster import trickster
    from models.schema import upgrade_database

    try:
        await upgrade_database()
        key, _ = await asyncio.to_thread(_upload, source)
        result = await trickster(key, preset, **explicit)
        output.parent.mkdir(parents=True, exist_ok=True)
        partial = output.with_name(f".{output.name}.part")
        await asyncio.to_thread(get_storage().download, result.key, partial)
        partial.replace(output)
    finally:
        await dispose_engines()
    return {"output": str(output), "duration_s": round(result.duration_s, 3),
            "params": result.params}


async def _voices(*, as_json: bool) -> None:
    from core.db import dispose_engines, session_scope
    from models.effects import list_effects, sync_stock_library
    from models.schema import upgrade_database
    from tasks.voice.catalogue import stock_library

    try:
        await upgrade_database()
        async with session_scope() as session:
            await sync_stock_library(session, stock_library())
            voices = [{"name": row.name, **row.params}
                      for row in await list_effects(session, "voice")]
            presets = [{"name": row.name, "params": row.params}
                       for row in await list_effects(session, "trickster")]
    finally:
        await dispose_engines()
    if as_json:
        print(json.dumps({"voices": voices, "presets": presets}, indent=2))
        return
    print("Voices (aura render --voice NAME, or --voice YOUR_RECORDING.wav):")
    for v in voices:
        effect = f" + {v['effect']}" if v.get("effect") else ""
        print(f"  {v['name']:<14} {v['tts']}{effect}: {v.get('description', '')}")
    print("Trickster presets (aura fx --preset NAME, aura render --effect NAME):")
    for p in presets:
        params = ", ".join(f"{k}={v}" for k, v in p["params"].items())
        print(f"  {p['name']:<14} {params}")


def token_command(args: argparse.Namespace) -> None:
    from core.auth import jwt_secret, mint_token, user_id_for
    from core.settings import get_settings

    print(mint_token(user_id_for(args.user), jwt_secret(get_settings()), ttl_s=args.ttl_s))


def analyze_command(args: argparse.Namespace) -> None:
    from tasks.emotion import analyze_script

    sentences = analyze_script(read_script(args.script))
    if args.json:
        print(json.dumps([s.model_dump(include={"text", "emotion", "intensity", "source"})
                          for s in sentences], ensure_ascii=False, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{args.script} — {len(sentences)} sentences", title_justify="left")
    table.add_column("line", justify="right", style="dim")
    table.add_column("emotion")
    table.add_column("intensity", justify="right")
    table.add_column("source")
    table.add_column("text", overflow="fold")
    for s in sentences:
        table.add_row(str(s.line), f"[{EMOTION_STYLES[s.emotion]}]{s.emotion}[/]",
                      f"{s.intensity:.2f}", s.source, s.text)
    Console().print(table)


EMOTION_STYLES = {"neutral": "white", "joy": "yellow", "sadness": "blue", "anger": "red",
                  "fear": "magenta", "surprise": "cyan", "disgust": "green"}


def _quiet_prefect_console(*, verbose: bool, quiet: bool) -> None:
    """Settings read when Prefect is first imported: no telemetry; console logs to taste.

    Prefect's logs still reach its API (and UI) at INFO; only the terminal is spared.
    """
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    if quiet and not verbose:
        os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")
        os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_FLOW_RUNS_LEVEL", "CRITICAL")
        os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_TASK_RUNS_LEVEL", "CRITICAL")


async def _render(script: str, spec: RenderSpec, output: Path, *, show_bars: bool,
                  voice: str | None = None, recording: Path | None = None,
                  effect: str | None = None, photo: Path | None = None,
                  face: int | None = None) -> dict[str, Any]:
    from cli.progress import StepProgress
    from core.db import dispose_engines, session_scope
    from core.storage import get_storage
    from flows.script_to_video import create_export_job, script_to_video
    from models.schema import upgrade_database
    from tasks.avatar.actors import get_actor
    from tasks.voice.catalogue import choose_voice

    try:
        await upgrade_database()
        if recording is not None:
            voice = RECORDING_PREFIX + (await asyncio.to_thread(_upload, recording))[0]
        if photo is not None:
            created = await _create_avatar(photo, photo.stem, face)
            _warn(created, chosen=face is not None,
                  again=f"aura render ... --avatar {photo} --face K")
            spec = spec.model_copy(update={"avatar": str(created.avatar_id)})
        elif not spec.avatar.startswith("stock:"):  # refused before a job is made
            async with session_scope() as session:
                await get_actor(session, spec.avatar)
        if voice or effect:  # an unknown name is refused before a job is made
            async with session_scope() as session:
                await choose_voice(session, voice, effect)
        job_id = await create_export_job(spec)
        try:
            with StepProgress(job_id, enabled=show_bars):
                result = await script_to_video(script, spec, job_id=job_id, voice=voice,
                                               effect=effect)
        except Exception as exc:
            await _fail_if_never_started(job_id, exc)
            raise
        output.parent.mkdir(parents=True, exist_ok=True)
        partial = output.with_name(f".{output.name}.part")
        await asyncio.to_thread(get_storage().download, result.video.key, partial)
        partial.replace(output)
    finally:
        await dispose_engines()
    return {"video": str(output), "duration_s": round(result.duration_s, 3),
            "job_id": str(result.job_id)}


async def _fail_if_never_started(job_id: uuid.UUID, exc: Exception) -> None:
    """End a job whose flow run never began (the Prefect API could not be reached, say):
    it is marked failed with the reason, not left queued, and the reason is raised as
    one plain line. A flow that began has ended its job itself."""
    from core.db import session_scope
    from models import jobs
    from models.domain import JobStatus
    from tasks.publish.notify import report_failed

    async with session_scope() as session:
        status = (await jobs.get_job(session, job_id)).status
    if status != JobStatus.queued:
        return
    reason = f"the render could not start: {exc}"
    await report_failed(job_id, reason)
    if not isinstance(exc, AuraError):
        raise TransientError(reason, provider="prefect") from exc


if __name__ == "__main__":
    main()
