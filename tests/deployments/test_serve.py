"""Deployments: what `aura serve` serves and what `prefect deploy --all` reads, by the
same names."""

from __future__ import annotations

import importlib
from pathlib import Path

import yaml

from deployments.serve import BATCH_EXPORT_CRON, deployments
from deployments.setup import QUEUE_PRIORITIES, WORK_POOL
from flows.batch_export import batch_export
from flows.reconstruct_avatar import reconstruct_avatar
from flows.runs import BATCH_QUEUE, ON_DEMAND_QUEUE, RENDER_DEPLOYMENT
from flows.script_to_video import script_to_video
from flows.trickster import trickster

ROOT = Path(__file__).resolve().parents[2]
NAMES = {"render": script_to_video.name, "batch-export": batch_export.name,
         "trickster": trickster.name, "reconstruct-avatar": reconstruct_avatar.name}


def prefect_yaml() -> dict:
    return yaml.safe_load((ROOT / "prefect.yaml").read_text())


def test_serve_offers_render_batch_export_trickster_and_avatars():
    served = {d.name: d for d in deployments()}
    assert {name: d.flow_name for name, d in served.items()} == NAMES
    assert f"{served['render'].flow_name}/render" == RENDER_DEPLOYMENT
    assert all("aurastudio" in d.tags for d in served.values())
    batch = served["batch-export"]
    assert [s.schedule.cron for s in batch.schedules] == [BATCH_EXPORT_CRON]
    assert batch.concurrency_limit == 1
    assert batch.concurrency_options.collision_strategy.value == "CANCEL_NEW"
    assert all(not d.schedules for name, d in served.items() if name != "batch-export")


def test_prefect_yaml_deploys_the_same_flows_under_the_same_names():
    entries = {entry["name"]: entry for entry in prefect_yaml()["deployments"]}
    flows = {}
    for name, entry in entries.items():
        path, attribute = entry["entrypoint"].split(":")
        module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
        flows[name] = getattr(module, attribute).name
    assert flows == NAMES


def test_prefect_yaml_puts_batch_work_on_the_lower_priority_queue():
    entries = {entry["name"]: entry for entry in prefect_yaml()["deployments"]}
    assert {entry["work_pool"]["name"] for entry in entries.values()} == {WORK_POOL}
    queues = {name: entry["work_pool"]["work_queue_name"] for name, entry in entries.items()}
    assert queues == {"render": ON_DEMAND_QUEUE, "batch-export": BATCH_QUEUE,
                      "trickster": ON_DEMAND_QUEUE, "reconstruct-avatar": ON_DEMAND_QUEUE}
    assert QUEUE_PRIORITIES[ON_DEMAND_QUEUE] < QUEUE_PRIORITIES[BATCH_QUEUE]
    batch = entries["batch-export"]
    assert batch["schedules"] == [{"cron": BATCH_EXPORT_CRON}]
    assert batch["concurrency_limit"] == {"limit": 1, "collision_strategy": "CANCEL_NEW"}
