"""`proto3d experiment`: class maps, errors, learning runs on tiny rendered sets, resume after SIGKILL.

The runs train real models on the CPU (32-px images, a few epochs): each takes tens of seconds
on a loaded 2-core machine. Datasets are rendered once per session with `proto3d dataset`.
"""

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from proto3d.cli import cli

torch = pytest.importorskip("torch", reason='needs the [train] extra: pip install -e ".[train]"')
# Imported at collection, before any test loads Mesa's EGL: torchvision loads triton, and triton
# loaded after EGL in one process crashes it (a segmentation fault in the whole suite).
pytest.importorskip("torchvision", reason='needs the [train] extra: pip install -e ".[train]"')

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SHAPES = [str(EXAMPLES / f"{name}.pdsl") for name in ("snowman", "bottle", "table")]


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    """A synthetic set and a target rendered from other variants (another seed) of the same prototypes.

    Rendered by `proto3d dataset` in a subprocess: with Mesa's EGL loaded in this process, a later
    import of torchvision (which loads triton) crashes it."""
    root = tmp_path_factory.mktemp("experiment")
    for name, options in [
        ("synthetic", "--seed 0 --variants 8 --views 4 --val 0.25"),
        ("target", "--seed 1 --variants 4 --views 6 --val 0.5"),
    ]:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "proto3d",
                "dataset",
                "-q",
                *SHAPES,
                "-o",
                str(root / name),
                "--size",
                "32",
                "-j",
                "1",
                *options.split(),
            ],
            check=True,
        )
    return root


def test_class_mapping_by_name_and_by_file(tmp_path):
    from proto3d.errors import Proto3dError
    from proto3d.experiment.classify import class_mapping, read_class_map

    assert class_mapping(["Office-Chair", "lamp", "mug"], ["mug", "office chair"]) == {0: 1, 2: 0}
    (tmp_path / "map.toml").write_text('"lamp" = "office chair"\n"mug" = "mug"\n')
    assert class_mapping(
        ["Office-Chair", "lamp", "mug"], ["mug", "office chair"], read_class_map(str(tmp_path / "map.toml"))
    ) == {1: 1, 2: 0}
    with pytest.raises(Proto3dError, match="'sofa', which is not a class"):
        class_mapping(["lamp"], ["mug"], {"lamp": "sofa"})
    with pytest.raises(Proto3dError, match="no synthetic category matches"):
        class_mapping(["lamp"], ["mug"])


def test_without_the_extra_the_command_names_it(monkeypatch, tmp_path):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name in ("torch", "torchvision") else real(name, *a),
    )
    result = CliRunner().invoke(
        cli,
        [
            "experiment",
            "classify",
            "--synthetic",
            str(tmp_path),
            "--target",
            str(tmp_path),
            "-o",
            str(tmp_path / "r"),
        ],
    )
    assert result.exit_code == 2
    assert 'pip install "proto3d[train]"' in result.output


def test_a_missing_weight_file_names_its_option(tmp_path):
    result = CliRunner().invoke(
        cli,
        [
            "experiment",
            "partseg",
            "--synthetic",
            str(tmp_path),
            "--target",
            str(tmp_path),
            "-o",
            str(tmp_path / "r"),
            "--clip-weights",
            str(tmp_path / "ViT-B-16.bin"),
        ],
    )
    assert result.exit_code == 1
    assert (
        "--clip-weights" in result.output
        and "no such file" in result.output
        and "never downloads" in result.output
    )
    assert not (tmp_path / "r").exists()


def test_a_wrong_layout_is_a_clear_error(tmp_path, tiny):
    result = CliRunner().invoke(
        cli,
        [
            "experiment",
            "classify",
            "--synthetic",
            str(tiny / "synthetic"),
            "--target",
            str(tmp_path),
            "-o",
            str(tmp_path / "r"),
            "--size",
            "32",
            "--workers",
            "0",
        ],
    )
    assert result.exit_code == 1
    assert (
        "no image folder for the train split" in result.output
        and "classification/train/<class>" in result.output
    )


def test_classify_pretrained_on_renders_beats_chance_on_other_variants(tmp_path, tiny):
    out = tmp_path / "results"
    result = CliRunner().invoke(
        cli,
        [
            "experiment",
            "classify",
            "-q",
            "--synthetic",
            str(tiny / "synthetic"),
            "--target",
            str(tiny / "target"),
            "-o",
            str(out),
            "--size",
            "32",
            "--batch-size",
            "16",
            "--epochs",
            "10",
            "--finetune-epochs",
            "3",
            "--lr",
            "2e-3",
            "--workers",
            "0",
        ],
    )
    assert result.exit_code == 0, result.output
    results = json.loads((out / "results.json").read_text())
    arms = {arm["arm"]: arm for arm in results["arms"]}
    synthetic = arms["synthetic + fine-tune"]
    assert results["chance_top1"] == pytest.approx(1 / 3)
    assert synthetic["top1"] > results["chance_top1"]
    assert synthetic["pretraining_images"] == 72  # 3 categories x 6 train variants x 4 views
    assert len(synthetic["losses"]["synthetic-pretrain"]) == 10
    assert synthetic["losses"]["synthetic-pretrain"][-1] < synthetic["losses"]["synthetic-pretrain"][0]
    assert results["config"] == json.loads((out / "config.json").read_text())["config"]
    assert "synthetic + fine-tune  72" in result.output and "Δ top-1 vs no pretraining" in result.output


def test_partseg_beats_a_constant_predictor_and_runs_the_clip_arms(tmp_path, tiny):
    import open_clip

    config = {
        "embed_dim": 32,
        "vision_cfg": {"image_size": 32, "layers": 1, "width": 64, "patch_size": 8},
        "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
    }
    (tmp_path / "tiny_clip.json").write_text(json.dumps(config))
    open_clip.add_model_config(str(tmp_path / "tiny_clip.json"))
    torch.save(
        open_clip.create_model("tiny_clip").state_dict(), tmp_path / "tiny_clip.pt"
    )  # random: no weights are downloaded
    out = tmp_path / "results"
    result = CliRunner().invoke(
        cli,
        [
            "experiment",
            "partseg",
            "-q",
            "--synthetic",
            str(tiny / "synthetic"),
            "--target",
            str(tiny / "target"),
            "-o",
            str(out),
            "--size",
            "32",
            "--batch-size",
            "8",
            "--epochs",
            "3",
            "--lr",
            "3e-3",
            "--workers",
            "0",
            "--arch",
            "fcn_resnet50",
            "--clip-model",
            str(tmp_path / "tiny_clip.json"),
            "--clip-weights",
            str(tmp_path / "tiny_clip.pt"),
            "--clip-lr",
            "3e-3",
        ],
    )
    assert result.exit_code == 0, result.output
    results = json.loads((out / "results.json").read_text())
    arms = {arm["arm"]: arm for arm in results["arms"]}
    assert list(arms) == [
        "constant (background)",
        "fcn_resnet50",
        "CLIP tiny_clip zero-shot",
        "CLIP tiny_clip fine-tuned",
    ]
    assert arms["fcn_resnet50"]["mIoU"] > arms["constant (background)"]["mIoU"]
    assert arms["CLIP tiny_clip fine-tuned"]["aAcc"] > arms["CLIP tiny_clip zero-shot"]["aAcc"]
    assert set(arms["fcn_resnet50"]["per_class_iou"]) == set(results["classes"])


def test_a_killed_run_resumes_from_its_checkpoint(tmp_path, tiny):
    out = tmp_path / "results"
    args = [
        sys.executable,
        "-m",
        "proto3d",
        "experiment",
        "classify",
        "--synthetic",
        str(tiny / "synthetic"),
        "--target",
        str(tiny / "target"),
        "-o",
        str(out),
        "--size",
        "32",
        "--batch-size",
        "16",
        "--epochs",
        "1",
        "--finetune-epochs",
        "8",
        "--workers",
        "0",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    checkpoint = out / "checkpoints" / "none-finetune.pt"
    while not checkpoint.exists() and process.poll() is None:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done = len(torch.load(checkpoint, weights_only=True)["losses"])
    assert 1 <= done < 8 and not (out / "results.json").exists()
    config = json.loads((out / "config.json").read_text())["config"]
    rerun = subprocess.run(args, env=env, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    assert f"none-finetune: resuming at epoch {done + 1}/8" in rerun.stderr
    results = json.loads((out / "results.json").read_text())
    assert results["config"] == config
    assert len(results["arms"][0]["losses"]["none-finetune"]) == 8
    other = CliRunner().invoke(cli, [*args[3:], "--seed", "1"])  # the same folder with other settings
    assert other.exit_code == 1
    assert "holds a run with other settings (changed: seed)" in other.output
