"""The shared file helpers: one JSON encoding, one slug rule with the two spellings the tools write."""

from __future__ import annotations

import numpy as np
import pytest

from proto3d.errors import Proto3dError
from proto3d.files import json_text, slug, write_json


@pytest.mark.parametrize(
    ("name", "run_folder", "dataset_file"),
    [
        ("Office chair!", "office-chair", "office_chair"),
        ("  Wine glass (tall) ", "wine-glass-tall", "wine_glass_tall"),
        ("teddy_bear", "teddy-bear", "teddy_bear"),
        ("Café 2", "caf-2", "caf_2"),
        ("!!!", "object", "unnamed"),
        ("", "object", "unnamed"),
    ],
)
def test_slug_spells_run_folders_and_dataset_files_as_before(name, run_folder, dataset_file):
    assert slug(name) == run_folder
    assert slug(name, "_", "unnamed") == dataset_file


def test_json_text_writes_numpy_values_and_to_json_objects_as_plain_json():
    class Point:
        def to_json(self):
            return {"x": 1}

    value = {"a": np.array([[1, 2]], np.int32), "b": np.float32(0.5), "c": np.int64(3), "p": Point()}
    assert (
        json_text(value)
        == '{\n "a": [\n  [\n   1,\n   2\n  ]\n ],\n "b": 0.5,\n "c": 3,\n "p": {\n  "x": 1\n }\n}\n'
    )
    assert json_text([1, 2], indent=None) == "[1, 2]\n"
    with pytest.raises(TypeError, match="not JSON serialisable: set"):
        json_text({1, 2})


def test_write_json_writes_atomically_and_reports_a_missing_folder(tmp_path):
    path = write_json(tmp_path / "a" / "b.json", {"k": [1.5]}, indent=2, parents=True)
    assert path.read_bytes() == b'{\n  "k": [\n    1.5\n  ]\n}\n'
    with pytest.raises(Proto3dError) as raised:
        write_json(tmp_path / "missing" / "c.json", {})
    assert [d.code for d in raised.value.diagnostics] == ["E902"]
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a", "b.json"]
