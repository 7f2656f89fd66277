"""Deployments: what `make serve` serves and what `prefect deploy --all` reads."""

from __future__ import annotations

import importlib
from pathlib import Path

import yaml

from deployments.serve import deployments
from flows.reconstruct_avatar import reconstruct_avatar
from flows.script_to_video import script_to_video
from flows.trickster import trickster

ROOT = Path(__file__).resolve().parents[2]


def test_serve_offers_the_main_flow_the_trickster_and_avatars():
    main, voice, avatar = deployments()
    assert (main.name, main.flow_name) == ("default", script_to_video.name)
    assert (voice.name, voice.flow_name) == ("default", trickster.name)
    assert (avatar.name, avatar.flow_name) == ("default", reconstruct_avatar.name)
    assert all("aurastudio" in d.tags for d in (main, voice, avatar))


def test_every_prefect_yaml_entrypoint_names_a_flow():
    config = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    assert config["deployments"], "prefect.yaml lists no deployments"
    for entry in config["deployments"]:
        path, name = entry["entrypoint"].split(":")
        module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
        flow = getattr(module, name)
        assert flow.name in {"script-to-video", "trickster", "reconstruct-avatar"}
        assert entry["work_pool"]["name"]
