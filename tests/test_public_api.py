# pyright: basic
"""The public entry points carry complete annotations, so an editor shows their signatures and a
static checker can follow a program that uses them (pyright checks this file: tests/test_static.py)."""

from __future__ import annotations

import dataclasses
import inspect
import typing
from pathlib import Path

import numpy as np
import pytest

import proto3d.compiler
import proto3d.grammar
import proto3d.renderer
from proto3d.agent.loop import Agent, Inspection, Toolchain, replay
from proto3d.compiler import CompiledShape, Limits, compile_text, export, parts_manifest
from proto3d.dataset.build import Settings, build_dataset, load_record, regenerate
from proto3d.dataset.reader import SegmentationSet, read_png, rle_decode
from proto3d.dataset.variants import param_specs, sample_variants, with_defaults
from proto3d.grammar import Program, format_program, parse
from proto3d.llm.client import Budget, LLMConfig, OpenAIBackend, load_config
from proto3d.renderer import Renders, View, contact_sheet, orbit, render

# What the README and docs/ name, beyond each stage's `__all__`.
DOCUMENTED = [
    Agent,
    Toolchain,
    Inspection,
    replay,
    Budget,
    LLMConfig,
    OpenAIBackend,
    load_config,
    build_dataset,
    load_record,
    regenerate,
    Settings,
    SegmentationSet,
    read_png,
    rle_decode,
    param_specs,
    sample_variants,
    with_defaults,
]
STAGES = [proto3d.grammar, proto3d.compiler, proto3d.renderer]


def _public() -> list:
    found = [getattr(stage, name) for stage in STAGES for name in stage.__all__] + DOCUMENTED
    return [item for item in found if inspect.isfunction(item) or inspect.isclass(item)]


def _callables(item) -> list:
    """A function, or a class's constructor and public methods defined in the project."""
    if inspect.isfunction(item):
        return [item]
    fields = {field.name for field in dataclasses.fields(item)} if dataclasses.is_dataclass(item) else set()
    return [
        member
        for name, member in vars(item).items()
        if inspect.isfunction(member)
        and name not in fields
        and (not name.startswith("_") or name == "__init__")
    ]


@pytest.mark.parametrize("item", _public(), ids=lambda item: item.__qualname__)
def test_public_entry_points_are_fully_annotated(item):
    for function in _callables(item):
        if getattr(function, "__module__", "").startswith("proto3d") is False:
            continue
        hints = typing.get_type_hints(function)  # every annotation resolves, too
        signature = inspect.signature(function)
        missing = [
            name
            for name, parameter in signature.parameters.items()
            if name not in ("self", "cls")
            and name not in hints
            and parameter.kind not in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD)
        ]
        assert not missing, f"{function.__qualname__}: parameters without a type: {missing}"
        if function.__name__ != "__init__":
            assert "return" in hints, f"{function.__qualname__}: no return type"


def test_typed_pipeline_from_text_to_pixels(tmp_path: Path):
    """The documented pipeline, written as a user would, with the types an editor infers."""
    text = Path(__file__).parents[1].joinpath("examples", "chair.pdsl").read_text(encoding="utf-8")
    program: Program = parse(text, "chair.pdsl")
    assert format_program(program).startswith("#")
    shape: CompiledShape = compile_text(text, limits=Limits(), filename="chair.pdsl")
    vertices: np.ndarray = shape.vertices
    assert vertices.dtype == np.float32 and vertices.shape[1] == 3
    export(shape, tmp_path / "chair.glb")
    assert parts_manifest(shape)["parts"][0]["label"] == shape.parts[0].label
    renders: Renders = render(shape, views=["front"], size=64)
    view: View = renders.view("front")
    hit = renders.at("front", 32, 32)
    assert hit is None or hit.part in {part.label for part in shape.parts}
    assert view.camera.width == 64
    assert len(orbit(3, 20.0, shape.bbox, 64)) == 3
    assert contact_sheet(shape, renders).size[0] > 0
