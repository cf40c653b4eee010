"""The answers' pydantic models: messages with JSON paths, segment instances, strict schemas."""

from __future__ import annotations

import pytest

from proto3d.agent.schema import (
    Arrangement,
    Bounds,
    Parts,
    Verdict,
    check_arrangement,
    check_parts,
    response_schema,
    validate,
    without_nulls,
)


def test_validation_messages_name_the_json_path():
    assert validate({"bounds": [0.5, 0.5, 0.9]}, Bounds) == []
    assert validate({"bounds": [0.5, -1, "x"]}, Bounds) == [
        "$.bounds[1]: Input should be greater than 0, got -1",
        '$.bounds[2]: Input should be a valid number, got "x"',
    ]
    assert validate([], Bounds) == ["$: expected an object, got []"]
    assert validate({"parts": [{"label": "2legs", "count": True}]}, Parts) == [
        "$.parts[0].label: String should match pattern '^[A-Za-z_][A-Za-z0-9_]*$', got \"2legs\"",
        "$.parts[0].count: Input should be a valid integer, got true",
    ]
    assert validate({"accept": True, "score": 11, "problems": [{"part": "a", "issue": "b"}]}, Verdict) == [
        "$.score: Input should be less than or equal to 10, got 11",
        "$.problems[0].fix: missing required key",
    ]
    ok = {"accept": False, "score": 3.5, "problems": [{"part": "a", "line": None, "issue": "b", "fix": "c"}]}
    assert validate(ok, Verdict) == []
    assert validate({**ok, "checks": [{"question": 0, "answer": "yes"}]}, Verdict) == [
        "$.checks[0].question: Input should be greater than or equal to 1, got 0",
        '$.checks[0].answer: Input should be a valid boolean, got "yes"',
    ]
    assert validate({"instances": [{"part": "a", "size": [1, 1, 1], "position": [0, 0]}]}, Arrangement) == [
        "$.instances[0].position: List should have at least 3 items, not 2, got [0, 0]"
    ]


def test_validation_is_strict():
    """No text for a number, no boolean for a count, no NaN (Python's json reads it)."""
    assert validate({"bounds": ["1", 1, 1]}, Bounds) == [
        '$.bounds[0]: Input should be a valid number, got "1"'
    ]
    assert validate({"parts": [{"label": "leg", "count": 2.0}]}, Parts) == [
        "$.parts[0].count: Input should be a valid integer, got 2.0"
    ]
    assert validate({"bounds": [float("nan"), 1, 1]}, Bounds) == [
        "$.bounds[0]: Input should be a finite number, got NaN"
    ]
    assert validate({"bounds": [1, 1, 1], "remark": "extra keys are ignored"}, Bounds) == []


SEGMENT = {"part": "post", "from": [0.1, -0.1, 0], "to": [0.1, -0.1, 0.8], "thickness": 0.03}


def test_an_instance_is_a_box_or_a_segment():
    box = {"part": "seat", "size": [0.4, 0.4, 0.05], "position": [0, 0, 0.45], "rotation": [0, 0, 0]}
    assert validate({"instances": [box, SEGMENT, {**SEGMENT, "shape": "rod"}]}, Arrangement) == []
    # the keys an instance gives say which form it meant, so the errors speak of that form only
    assert validate({"instances": [{"part": "post", "from": [0, 0, 0], "to": [0, 0, 1]}]}, Arrangement) == [
        "$.instances[0].thickness: missing required key"
    ]
    assert validate({"instances": [{"part": "seat", "size": [1, 1, 1]}]}, Arrangement) == [
        "$.instances[0].position: missing required key"
    ]
    assert validate({"instances": [{**SEGMENT, "thickness": 0}]}, Arrangement) == [
        "$.instances[0].thickness: Input should be greater than 0, got 0"
    ]
    assert validate({"instances": [{**SEGMENT, "to": SEGMENT["from"]}]}, Arrangement) == [
        "$.instances[0]: `from` and `to` are the same point; a segment needs a length"
    ]
    assert validate({"instances": [{**SEGMENT, "position": [0, 0, 0.4]}]}, Arrangement) == [
        "$.instances[0]: give either a box (size, position, rotation) or a segment (from, to, thickness), "
        "not both"
    ]
    assert validate({"instances": [{**SEGMENT, "to": [0, 0]}]}, Arrangement) == [
        "$.instances[0].to: List should have at least 3 items, not 2, got [0, 0]"
    ]


def test_segment_end_points_lie_inside_the_bounds():
    parts = {"parts": [{"label": "post", "count": 2}]}
    bounds = [0.4, 0.4, 1.0]  # x and y from -0.2 to 0.2, z from 0 to 1; 1 cm of slack
    inside = {**SEGMENT, "from": [-0.209, 0.2, 0], "to": [0.2, -0.2, 1.0]}
    assert check_arrangement({"instances": [SEGMENT, inside]}, parts, bounds) == []
    outside = {**SEGMENT, "from": [0, 0, -0.05], "to": [0.3, 0, 0.5]}
    assert check_arrangement({"instances": [SEGMENT, outside]}, parts, bounds) == [
        "$.instances[1].from: [0, 0, -0.05] is outside the bounds (x -0.2 to 0.2, y -0.2 to 0.2, z 0 to 1)",
        "$.instances[1].to: [0.3, 0, 0.5] is outside the bounds (x -0.2 to 0.2, y -0.2 to 0.2, z 0 to 1)",
    ]
    assert check_arrangement({"instances": [SEGMENT, outside]}, parts) == []  # no bounds: not checked


def test_semantic_checks():
    parts = {
        "parts": [{"label": "leg", "count": 2}, {"label": "leg", "count": 1}, {"label": "scale", "count": 1}]
    }
    assert check_parts(parts) == [
        "$.parts[1].label: 'leg' appears twice; give one entry with a count",
        "$.parts[2].label: 'scale' is a reserved word of the language; pick another",
    ]
    parts = {"parts": [{"label": "leg", "count": 2}]}
    inst = {"part": "leg", "size": [1, 1, 1], "position": [0, 0, 0]}
    assert check_arrangement({"instances": [inst, inst]}, parts) == []
    assert check_arrangement({"instances": [inst, {**inst, "part": "arm"}]}, parts) == [
        "$.instances[1].part: 'arm' is not one of the parts ['leg']",
        "part 'leg' needs 2 instance(s), got 1",
    ]


def _objects(node):
    if isinstance(node, dict):
        if node.get("type") == "object":
            yield node
        for value in node.values():
            yield from _objects(value)
    elif isinstance(node, list):
        for value in node:
            yield from _objects(value)


@pytest.mark.parametrize("model", [Bounds, Parts, Arrangement, Verdict])
def test_response_schemas_are_strict(model):
    """OpenAI's strict mode: every object closed with all keys required, no $ref, oneOf or default."""
    schema = response_schema(model)
    text = str(schema)
    assert "$ref" not in text and "oneOf" not in text and "'default'" not in text and "'title'" not in text
    for obj in _objects(schema):
        assert obj["additionalProperties"] is False
        assert obj["required"] == list(obj["properties"])


def test_the_arrangement_schema_offers_both_forms():
    item = response_schema(Arrangement)["properties"]["instances"]["items"]
    box, segment = item["anyOf"]
    assert box["required"] == ["part", "size", "position", "rotation", "shape"]
    assert segment["required"] == ["part", "from", "to", "thickness", "shape"]
    assert segment["properties"]["thickness"] == {"exclusiveMinimum": 0, "maximum": 1000, "type": "number"}
    assert box["properties"]["rotation"]["anyOf"][1] == {"type": "null"}  # optional: nullable


def test_nulls_read_as_omitted_keys():
    """Under a strict schema a model gives every key, null for the ones it would omit."""
    strict = {"instances": [{"part": "a", "size": [1, 1, 1], "position": [0, 0, 0.5], "rotation": None}]}
    assert validate(strict, Arrangement) == []
    assert without_nulls(strict) == {"instances": [{"part": "a", "size": [1, 1, 1], "position": [0, 0, 0.5]}]}
