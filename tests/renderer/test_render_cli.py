"""`proto3d render` end to end on a real program: files written, errors formatted, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from proto3d.render_cmd import render_command

CHAIR = """\
shape "chair"
bounds [0.50, 0.55, 0.90]
param seat_h = 0.45 in [0.40, 0.50]
let leg_r = 0.02

part seat color "#8b5a2b" {
    box(size=[0.46, 0.44, 0.05], at=[0, 0, seat_h], align="top")
}
for x in [-0.2, 0.2], y in [-0.18, 0.18] {
    part leg {
        cylinder(r=leg_r, h=seat_h - 0.05, at=[x, y, 0], align="bottom")
    }
}
part backrest {
    box(size=[0.46, 0.04, 0.42], at=[0, seat.back.y - 0.02, seat.top.z], align="bottom", rot=[-8, 0, 0])
}
"""


def run(args, tmp_path, text=CHAIR):
    src = tmp_path / "chair.pdsl"
    src.write_text(text)
    return CliRunner().invoke(render_command, [str(src), "-o", str(tmp_path / "out"), *args])


def test_render_writes_views_sheet_and_json(tmp_path):
    result = run(["--views", "front,iso", "--size", "96", "--sheet"], tmp_path)
    assert result.exit_code == 0, result.output
    out = tmp_path / "out"
    for name in (
        "front_rgb.png",
        "iso_part.png",
        "iso_part_id.png",
        "front_depth.png",
        "iso.npz",
        "sheet.png",
        "cameras.json",
        "visibility.json",
    ):
        assert (out / name).exists(), name
    assert Image.open(out / "front_rgb.png").size == (96, 96)
    vis = json.loads((out / "visibility.json").read_text())
    assert [p["label"] for p in vis["parts"]] == ["seat", "leg", "backrest"]
    assert vis["invisible_parts"] == []
    assert [c["name"] for c in json.loads((out / "cameras.json").read_text())["views"]] == ["front", "iso"]
    assert "chair: 2 views at 96x96" in result.output and "seat" in result.output


def test_orbit_passes_and_camera_reuse(tmp_path):
    result = run(["--orbit", "3", "--size", "48", "--passes", "part,depth", "--samples", "1"], tmp_path)
    assert result.exit_code == 0, result.output
    out = tmp_path / "out"
    assert sorted(p.name for p in out.glob("orbit_000*")) == [
        "orbit_000.npz",
        "orbit_000_depth.png",
        "orbit_000_part.png",
        "orbit_000_part_id.png",
    ]
    again = CliRunner().invoke(
        render_command,
        [
            str(tmp_path / "chair.pdsl"),
            "-o",
            str(tmp_path / "again"),
            "--cameras",
            str(out / "cameras.json"),
            "--passes",
            "part",
        ],
    )
    assert again.exit_code == 0, again.output
    np.testing.assert_array_equal(
        np.load(tmp_path / "again" / "orbit_002.npz")["part"], np.load(out / "orbit_002.npz")["part"]
    )


def test_errors_are_messages_not_tracebacks(tmp_path):
    bad = run([], tmp_path, text='shape "x"\npart a { cube(size=1) }\n')
    assert bad.exit_code == 1 and "chair.pdsl:2" in bad.output and "Traceback" not in bad.output
    for args, needle in [
        (["--views", "frnot"], "R002"),
        (["--passes", "rgb,colour"], "R008"),
    ]:
        result = run(args, tmp_path)
        assert result.exit_code == 1 and needle in result.output and "Traceback" not in result.output, (
            args,
            result.output,
        )
    for (
        args,
        needle,
    ) in [  # options outside their documented range are usage errors, checked by the renderer's limits
        (["--size", "0"], "0 is not in the range 16<=x<=2048"),
        (["--size", "4096"], "4096 is not in the range 16<=x<=2048"),
        (["--orbit", "0"], "0 is not in the range 1<=x<=360"),
        (["--samples", "17"], "17 is not in the range 1<=x<=16"),
    ]:
        result = run(args, tmp_path)
        assert result.exit_code == 2 and needle in result.output and "Traceback" not in result.output, (
            args,
            result.output,
        )
    (tmp_path / "cams.json").write_text("{not json")
    result = run(["--cameras", str(tmp_path / "cams.json")], tmp_path)
    assert result.exit_code == 1 and "R004" in result.output
    both = run(["--views", "front", "--orbit", "4"], tmp_path)
    assert both.exit_code == 2 and "only one of" in both.output


def test_params_and_stdin(tmp_path):
    low = CliRunner().invoke(
        render_command,
        [
            "-",
            "-o",
            str(tmp_path / "low"),
            "--views",
            "front",
            "--size",
            "64",
            "--passes",
            "part",
            "-p",
            "seat_h=0.40",
        ],
        input=CHAIR,
    )
    high = CliRunner().invoke(
        render_command,
        [
            "-",
            "-o",
            str(tmp_path / "high"),
            "--views",
            "front",
            "--size",
            "64",
            "--passes",
            "part",
            "-p",
            "seat_h=0.50",
        ],
        input=CHAIR,
    )
    assert low.exit_code == 0 and high.exit_code == 0, low.output + high.output
    a, b = (np.load(tmp_path / d / "front.npz")["part"] for d in ("low", "high"))
    assert not np.array_equal(a, b)
    unreadable = CliRunner().invoke(
        render_command, [str(tmp_path / "missing.pdsl"), "-o", str(tmp_path / "x")]
    )
    assert unreadable.exit_code == 1 and "cannot read" in unreadable.output


def test_lints_are_printed(tmp_path):
    floating = (
        'shape "x"\npart a { box(size=[1, 1, 1], at=[0, 0, 0.5]) }\npart b { sphere(r=0.2, at=[3, 0, 3]) }\n'
    )
    result = run(["--views", "front", "--size", "32"], tmp_path, text=floating)
    assert result.exit_code == 0 and "warning" in result.output


def test_help_explains_every_option():
    result = CliRunner().invoke(render_command, ["--help"])
    assert result.exit_code == 0
    for option in (
        "--out",
        "--views",
        "--orbit",
        "--elevation",
        "--cameras",
        "--size",
        "--passes",
        "--antialias",
        "--samples",
        "--sheet",
        "--transparent",
        "--param",
    ):
        assert option in result.output


def test_unwritable_output_is_a_message(tmp_path):
    (tmp_path / "blocker").write_text("a file where a folder should be")
    src = tmp_path / "chair.pdsl"
    src.write_text(CHAIR)
    result = CliRunner().invoke(
        render_command, [str(src), "-o", str(tmp_path / "blocker" / "out"), "--size", "32"]
    )
    assert (
        result.exit_code == 1
        and "cannot create output folder" in result.output
        and "Traceback" not in result.output
    )


def test_a_request_over_the_memory_limit_is_refused_before_any_work(tmp_path):
    """360 views at 2048x2048 with every pass held at once would be ~51 GB: the in-process API refuses it
    before drawing; streamed to disk it needs ~0.9 GB, which a lower --max-memory refuses the same way."""
    from proto3d.compiler import compile_text
    from proto3d.renderer import RenderError, orbit, render

    shape = compile_text(CHAIR)
    with pytest.raises(RenderError) as err:
        render(shape, orbit(360, 20.0, shape.bbox, 2048))
    assert err.value.diagnostics[0].code == "R012"
    assert err.value.diagnostics[0].message == (
        "360 views at 2048x2048 held in memory need about 51,984 MB of memory; the limit is 2,048 MB"
    )
    result = run(["--orbit", "360", "--size", "2048", "--max-memory", "512"], tmp_path)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert (
        "error R012: 360 views at 2048x2048 rendered and written need about 912 MB of memory; the limit is 512 MB"
        in result.output
    ), result.output
    assert "hint: give a larger --max-memory" in result.output
    assert not (tmp_path / "out").exists()  # refused before any file was written
    sheet = run(["--orbit", "360", "--size", "256", "--sheet", "--max-memory", "64"], tmp_path)
    assert (
        sheet.exit_code == 1
        and "360 views at 256x256 rendered and written with a sheet need about" in sheet.output
    )


def test_running_out_of_memory_is_a_message(tmp_path, monkeypatch):
    import proto3d.renderer.save as save

    def exhausted(*args):
        raise MemoryError

    monkeypatch.setattr(save, "_view_files", exhausted)
    result = run(["--views", "front", "--size", "32"], tmp_path)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "error R013: the machine ran out of memory while rendering; nothing was kept" in result.output
    assert list((tmp_path / "out").iterdir()) == []  # the manifest written first is removed with the rest


def test_a_used_folder_is_refused_and_overwrite_removes_only_the_files_it_wrote(tmp_path):
    first = run(["--orbit", "3", "--size", "32", "--passes", "part"], tmp_path)
    assert first.exit_code == 0, first.output
    out = tmp_path / "out"
    manifest = json.loads((out / "manifest.json").read_text())
    assert sorted(manifest["files"]) == sorted(p.name for p in out.iterdir())
    (out / "notes.txt").write_text("mine")
    (out / ".orbit_002.npz.4242.0badcafe.tmp").write_bytes(b"half a file from a killed run")

    again = run(["--views", "front", "--size", "32", "--passes", "rgb"], tmp_path)
    assert again.exit_code == 2 and "Traceback" not in again.output
    assert "is not empty; give --overwrite to replace the files an earlier run wrote there" in again.output
    assert (out / "orbit_002.npz").exists()

    replaced = run(["--views", "front", "--size", "32", "--passes", "rgb", "--overwrite"], tmp_path)
    assert replaced.exit_code == 0, replaced.output
    assert sorted(p.name for p in out.iterdir()) == [
        "cameras.json",
        "front_rgb.png",
        "manifest.json",
        "notes.txt",
        "visibility.json",
    ]
    assert (out / "notes.txt").read_text() == "mine"
    assert json.loads((out / "manifest.json").read_text())["files"] == [
        "front_rgb.png",
        "cameras.json",
        "visibility.json",
        "manifest.json",
    ]


def test_overwrite_never_follows_a_manifest_out_of_the_folder(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (tmp_path / "precious.txt").write_text("keep")
    (out / "manifest.json").write_text(
        json.dumps({"files": ["../precious.txt", str(tmp_path / "precious.txt"), 7]})
    )
    result = run(["--views", "front", "--size", "32", "--passes", "part", "--overwrite"], tmp_path)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "precious.txt").read_text() == "keep"


def test_a_failed_render_keeps_no_partial_output(tmp_path):
    """A view that shows nothing stops the run after others were written: they are removed."""
    ok = run(["--views", "front,back", "--size", "32", "--passes", "part"], tmp_path)
    assert ok.exit_code == 0
    views = json.loads((tmp_path / "out" / "cameras.json").read_text())["views"]
    away = dict(views[1], name="away")
    away["world_to_camera"] = [
        [1, 0, 0, 0],
        [0, 1, 0, 0],
        [0, 0, 1, -50],
        [0, 0, 0, 1],
    ]  # the shape is behind it
    (tmp_path / "cams.json").write_text(json.dumps({"views": [views[0], away]}))
    src = tmp_path / "chair.pdsl"
    result = CliRunner().invoke(
        render_command,
        [
            str(src),
            "-o",
            str(tmp_path / "partial"),
            "--passes",
            "part",
            "--cameras",
            str(tmp_path / "cams.json"),
        ],
    )
    assert result.exit_code == 1 and "R007" in result.output and "view `away` shows nothing" in result.output
    assert list((tmp_path / "partial").iterdir()) == []


PEAK_RSS = """
import resource, sys
from proto3d.render_cmd import render_command
try:
    render_command.main(sys.argv[1:], standalone_mode=False)
finally:
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, file=sys.stderr)
"""


def test_the_command_streams_views_so_its_memory_does_not_grow_with_their_number(tmp_path):
    """Under a 128 MB cap that 14 views held in memory (221 MB counted) would not fit, the command
    streams them, and its peak RSS stays within a few views of `--orbit 2`'s (in memory, 12 more
    views of 640x640 with every pass would add 12 x 14.7 MB = 177 MB)."""
    src = tmp_path / "chair.pdsl"
    src.write_text(CHAIR)

    def peak(views: int) -> int:
        done = subprocess.run(
            [
                sys.executable,
                "-c",
                PEAK_RSS,
                str(src),
                "-o",
                str(tmp_path / f"o{views}"),
                "--orbit",
                str(views),
                "--size",
                "640",
                "--max-memory",
                "128",
            ],
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr
        assert len(json.loads((tmp_path / f"o{views}" / "cameras.json").read_text())["views"]) == views
        return int(done.stderr.split()[-1])

    grown = peak(14) - peak(2)
    assert grown < 60 * 2**20, f"{grown / 2**20:.0f} MB more for 12 more views"
