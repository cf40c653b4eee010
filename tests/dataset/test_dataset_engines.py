"""The process pool, Ray and a real kill give the same dataset as one process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from proto3d.dataset.build import Settings, build_dataset

ROOT = Path(__file__).resolve().parents[2]
PROTOTYPES = [str(ROOT / "examples" / "stool.pdsl"), str(ROOT / "examples" / "mug.pdsl")]
SETTINGS = Settings(seed=1, variants=2, views=2, size=32)
OUTPUTS = ("manifest.jsonl", "coco_train.json", "coco_val.json", "labels.json")


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("reference")
    build_dataset(PROTOTYPES, out, SETTINGS, workers=1)
    return out


def same(a: Path, b: Path) -> None:
    for name in OUTPUTS:  # the manifest holds every file's sha256, so equal manifests mean equal files
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_process_pool_matches_one_process(reference, tmp_path):
    summary = build_dataset(PROTOTYPES, tmp_path, SETTINGS, workers=2)
    assert summary["complete"] and summary["images"] == 8
    same(reference, tmp_path)


def test_ray_matches_local(reference, tmp_path):
    ray = pytest.importorskip("ray")
    try:
        summary = build_dataset(PROTOTYPES, tmp_path, SETTINGS, engine="ray", workers=1)
    finally:
        ray.shutdown()
    assert summary["complete"]
    same(reference, tmp_path)


def test_resume_after_sigkill(reference, tmp_path):
    """Kill the command as soon as one task is recorded, run it again: the result is the uninterrupted one."""
    settings = ["--variants", "2", "--views", "2", "--size", "32", "--seed", "1", "-j", "1", "-q"]
    command = [
        sys.executable,
        "-c",
        "from proto3d.cli import main; main()",
        "dataset",
        *PROTOTYPES,
        "-o",
        str(tmp_path),
        *settings,
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while process.poll() is None and not any((tmp_path / "tasks").glob("*.json")):
            time.sleep(0.01)
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait()
    finished = subprocess.run(command, capture_output=True, text=True)
    assert finished.returncode == 0, finished.stderr
    same(reference, tmp_path)
    assert not list(tmp_path.rglob("*.tmp"))
