"""Deployments: what `make serve` serves and what `prefect deploy --all` reads."""

from __future__ import annotations

import importlib
from pathlib import Path

import yaml

from deployments.serve import deployments
from flows.script_to_video import script_to_video

ROOT = Path(__file__).resolve().parents[2]


def test_serve_offers_the_main_flow():
    (deployment,) = deployments()
    assert deployment.name == "default"
    assert deployment.flow_name == script_to_video.name
    assert "aurastudio" in deployment.tags


def test_every_prefect_yaml_entrypoint_names_a_flow():
    config = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    assert config["deployments"], "prefect.yaml lists no deployments"
    for entry in config["deployments"]:
        path, name = entry["entrypoint"].split(":")
        module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
        flow = getattr(module, name)
        assert flow.name == "script-to-video"
        assert entry["work_pool"]["name"]
