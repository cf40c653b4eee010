"""bench/compare_checkouts.py: one corpus, each checkout's own code, records compared field by field."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("compare_checkouts", ROOT / "bench" / "compare_checkouts.py")
assert _spec and _spec.loader
compare_checkouts = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(compare_checkouts)  # a script, not a module on the path

CORPUS = [
    ("valid", 'shape "t"\npart seat { box(size=[1, 1, 0.1], at=[0, 0, 0.5]) }\n'),
    ("floating", "part a { box(size=[1, 1, 1]) }\npart b { sphere(r=0.2, at=[0, 0, 3]) }\n"),
    ("undefined name", "part a { box(size=[w, 1, 1]) }\n"),
    ("bytes", b"\xef\xbb\xbfpart a { cylinder(r=0.1, h=\xff) }"),
]


def test_a_checkout_against_itself_is_identical(tmp_path):
    old, new = compare_checkouts.run_both([ROOT, ROOT], CORPUS)
    assert old == new and len(new) == len(CORPUS)
    records = [json.loads(line) for line in new]
    assert set(records[0]["exports"]) == {"glb", "ply", "manifest", "obj", "mtl"}
    assert set(records[0]["shape"]) >= {"vertices", "normals", "faces", "part_id", "primitives"}
    assert [d["code"] for d in records[1]["diagnostics"]] == ["W103", "W101"]
    assert records[2]["errors"][0]["code"] == "E201"
    assert records[2]["errors"][0]["span"]["line"] == 1 and records[2]["errors"][0]["span"]["column"] == 20
    assert list(compare_checkouts.differences(CORPUS, old, new)) == []


def test_differences_name_the_field_that_changed():
    old = {"tree": "a", "shape": {"vertices": "v1", "faces": "f"}, "diagnostics": [{"code": "W101"}]}
    new = {"tree": "a", "shape": {"vertices": "v2", "faces": "f"}, "diagnostics": [{"code": "W102"}]}
    found = list(compare_checkouts.differences(CORPUS[:1], [json.dumps(old)], [json.dumps(new)]))
    assert [(name, key) for name, _, key, _, _ in found] == [
        ("valid", "diagnostics"),
        ("valid", "shape.vertices"),
    ]
    assert found[1][3:] == ("v1", "v2")


def test_the_corpus_round_trips_through_its_file(tmp_path):
    path = tmp_path / "corpus.json"
    compare_checkouts.save_corpus(CORPUS, path)
    assert compare_checkouts.load_corpus(path) == CORPUS


def test_generated_programs_are_the_same_for_the_same_seed():
    from tests.helpers import strategies

    first = compare_checkouts._drawn(strategies.programs(), 5, seed=3)
    assert len(first) == 5 and first == compare_checkouts._drawn(strategies.programs(), 5, seed=3)


def test_an_error_inside_a_def_call_is_recorded_with_its_call_site():
    record = compare_checkouts.record("def leg(h) {\n    box(size=[1, 1, h])\n}\npart a { leg(-1) }\n")
    (error,) = json.loads(json.dumps(record))["errors"]
    assert error["code"] == "E107" and error["span"]["line"] == 2
    assert [(call["name"], call["span"]["line"], call["span"]["column"]) for call in error["calls"]] == [
        ("leg", 4, 10)
    ]
