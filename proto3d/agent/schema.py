"""What the model must answer: pydantic models of the designer and inspector answers, their JSON
schemas for servers that enforce them while decoding, and extraction from chat replies.

Validation is strict (no "1" for 1, no true for 1, no NaN) and its messages name the JSON path,
because they go back to the model verbatim in the corrective retry. Keys the models do not know
are ignored, as a model's extra remarks are harmless.
"""

from __future__ import annotations

import functools
import json
import re
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationError, model_validator

IDENT = "^[A-Za-z_][A-Za-z0-9_]*$"

Vec3 = Annotated[list[float], Field(min_length=3, max_length=3)]
Size3 = Annotated[list[Annotated[float, Field(gt=0, le=1000)]], Field(min_length=3, max_length=3)]


class Answer(BaseModel):
    model_config = ConfigDict(strict=True, allow_inf_nan=False, extra="ignore")


class Bounds(Answer):
    bounds: Size3
    front: str | None = None  # which side of the object faces −Y, in a few words
    notes: str | None = None


class PartSpec(Answer):
    label: str = Field(pattern=IDENT)
    count: int = Field(ge=1, le=64)
    description: str | None = None


PartList = Annotated[list[PartSpec], Field(min_length=1, max_length=40)]


class Parts(Answer):
    parts: PartList


class Design(Answer):
    name: str = Field(pattern="[A-Za-z0-9]")
    description: str
    parts: PartList


class Designs(Answer):
    designs: list[Design] = Field(min_length=1)


class VariantVerdict(Answer):
    variant: int = Field(ge=1)
    plausible: bool
    issue: str | None = None
    params: list[str] | None = None


class VariantVerdicts(Answer):
    variants: list[VariantVerdict]


class BoxInstance(Answer):
    """A part instance as a box: full extents, centre, rotation (degrees about X, then Y, then Z)."""

    part: str
    size: Size3
    position: Vec3
    rotation: Vec3 | None = None
    shape: str | None = None


BOX_KEYS = {"size", "position", "rotation"}
SEGMENT_KEYS = {"from", "to", "thickness"}


class SegmentInstance(Answer):
    """A part instance as a segment (posts, handles, spindles, struts): its two end points on the
    centre line and its thickness (diameter); the coder writes it as `rod(from=, to=, r=thickness/2)`."""

    part: str
    start: Vec3 = Field(alias="from")
    end: Vec3 = Field(alias="to")
    thickness: float = Field(gt=0, le=1000)
    shape: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _one_form(cls, value: Any) -> Any:
        if isinstance(value, dict) and BOX_KEYS & value.keys():
            raise ValueError(
                "give either a box (size, position, rotation) or a segment (from, to, thickness), not both"
            )
        return value

    @model_validator(mode="after")
    def _has_length(self) -> SegmentInstance:
        if sum((a - b) ** 2 for a, b in zip(self.start, self.end)) < 1e-12:
            raise ValueError("`from` and `to` are the same point; a segment needs a length")
        return self


def _instance_kind(value: Any) -> str:
    """A segment if the instance names any of its keys, else a box: the errors then speak of the
    form the model meant."""
    if isinstance(value, dict):
        return "segment" if SEGMENT_KEYS & value.keys() else "box"
    return "segment" if isinstance(value, SegmentInstance) else "box"


Instance = Annotated[
    Annotated[BoxInstance, Tag("box")] | Annotated[SegmentInstance, Tag("segment")],
    Discriminator(_instance_kind),
]


class Arrangement(Answer):
    instances: list[Instance] = Field(min_length=1)


class Problem(Answer):
    part: str
    line: int | str | None = None
    issue: str
    fix: str


class Check(Answer):
    """The inspector's answer to one of the plan's yes/no questions."""

    question: int = Field(ge=1)
    answer: bool
    note: str | None = None


class Verdict(Answer):
    accept: bool
    score: float = Field(ge=0, le=10)
    summary: str | None = None
    checks: list[Check] | None = None  # when the inspector is given questions
    problems: list[Problem]


RESERVED = set(
    "shape bounds let param part color for in if elif else and or not true false pi "
    "translate rotate scale mirror symmetric radial".split()
)


def validate(value, model: type[Answer]) -> list[str]:
    """Every violation of `model` by `value`, each as "path: what is wrong"."""
    try:
        model.model_validate(value)
    except ValidationError as exc:
        return [_message(error) for error in exc.errors()]
    return []


def _message(error: dict) -> str:
    path = "$" + "".join(
        f"[{key}]" if isinstance(key, int) else f".{key}"
        for key in error["loc"]
        if key not in ("box", "segment")  # the union's tags: not part of the answer's path
    )
    message = error["msg"].removeprefix("Value error, ").replace(" after validation", "")
    if error["type"] == "missing":
        return f"{path}: missing required key"
    if error["type"] == "value_error":
        return f"{path}: {message}"
    if error["type"] in ("model_type", "model_attributes_type"):
        message = "expected an object"
    return f"{path}: {message}, got {_shown(error['input'])}"


def _shown(value) -> str:
    text = json.dumps(value) if not isinstance(value, BaseModel) else "it"
    return text if len(text) <= 60 else text[:60] + "…"


def without_nulls(value):
    """`value` without the keys whose value is null: how a strict schema says "not given" (every
    key required, optional ones nullable), dropped so the answer reads as if they were omitted."""
    if isinstance(value, dict):
        return {k: without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_nulls(v) for v in value]
    return value


@functools.cache
def response_schema(model: type[Answer]) -> dict:
    """The JSON schema of `model` as strict structured outputs accept it (OpenAI's strict mode,
    and what vLLM, Ollama and llama.cpp enforce): references inlined, every object closed with all
    its keys required, optional keys nullable instead, `oneOf` as `anyOf`, no titles or defaults."""
    schema = model.model_json_schema(by_alias=True)
    definitions = schema.pop("$defs", {})

    def strict(node):
        if isinstance(node, list):
            return [strict(item) for item in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node:
            return strict(definitions[node["$ref"].rsplit("/", 1)[1]])
        node = {
            ("anyOf" if key == "oneOf" else key): strict(value)
            for key, value in node.items()
            if key not in ("title", "default", "discriminator", "description")
        }
        if node.get("type") == "object":
            node["required"] = list(node.get("properties", {}))
            node["additionalProperties"] = False
        return node

    return strict(schema)


def check_parts(
    parts: dict, vocabulary: dict | None = None, allow_other: bool = False, path: str = "$"
) -> list[str]:
    """What the schema cannot say: labels unique and not reserved words; with a `vocabulary`
    ({label: description}), every label one of its labels (or `other`, when allowed)."""
    errors, seen = [], set()
    allowed = sorted(vocabulary) + (["other"] if allow_other else []) if vocabulary is not None else None
    for i, p in enumerate(parts["parts"]):
        if p["label"] in RESERVED:
            errors.append(
                f"{path}.parts[{i}].label: {p['label']!r} is a reserved word of the language; pick another"
            )
        elif allowed is not None and p["label"] not in allowed:
            errors.append(
                f"{path}.parts[{i}].label: {p['label']!r} is not in the part vocabulary; use one of {allowed}"
            )
        if p["label"] in seen:
            errors.append(
                f"{path}.parts[{i}].label: {p['label']!r} appears twice; give one entry with a count"
            )
        seen.add(p["label"])
    return errors


def check_designs(
    designs: dict, count: int, vocabulary: dict | None = None, allow_other: bool = False
) -> list[str]:
    """Exactly `count` designs, each with valid parts, names distinct, and no two with the same
    part list and counts (a near-duplicate is not a different design)."""
    from proto3d.llm.client import slug

    items = designs["designs"]
    errors = [] if len(items) == count else [f"$.designs: give exactly {count} designs, got {len(items)}"]
    seen_names: dict[str, int] = {}
    seen_parts: dict[tuple, int] = {}
    for i, d in enumerate(items):
        errors += check_parts(d, vocabulary, allow_other, f"$.designs[{i}]")
        name = slug(d["name"])
        if name in seen_names:
            errors.append(
                f"$.designs[{i}].name: {d['name']!r} repeats the name of design {seen_names[name] + 1}"
            )
        seen_names.setdefault(name, i)
        parts = tuple(sorted((p["label"], p["count"]) for p in d["parts"]))
        if parts in seen_parts:
            first = seen_parts[parts]
            errors.append(
                f"$.designs[{i}]: {d['name']!r} has the same parts and counts as {items[first]['name']!r} "
                f"({', '.join(f'{label} x{n}' for label, n in parts)}); make it structurally different: "
                "other parts or other counts"
            )
        seen_parts.setdefault(parts, i)
    return errors


def check_variant_verdicts(answer: dict, count: int) -> list[str]:
    """One verdict for each variant 1..count."""
    numbers = [v["variant"] for v in answer["variants"]]
    if sorted(numbers) != list(range(1, count + 1)):
        return [f"$.variants: give one entry for each variant 1 to {count} exactly once, got {numbers}"]
    return []


def check_checks(verdict: dict, count: int) -> list[str]:
    """One answer for each question 1..count."""
    numbers = [c["question"] for c in verdict.get("checks") or []]
    if sorted(numbers) != list(range(1, count + 1)):
        return [f"$.checks: answer each question 1 to {count} exactly once, got {numbers}"]
    return []


def check_arrangement(arrangement: dict, parts: dict, bounds: list[float] | None = None) -> list[str]:
    """Every part of the decomposition appears exactly `count` times, and no other part does; with
    the `bounds` [w, d, h], every segment's end points lie inside them (centred on x = y = 0, from
    z = 0 up; 1 % of the largest extent of slack, as an end point is on the centre line)."""
    want = {p["label"]: p["count"] for p in parts["parts"]}
    have: dict[str, int] = {}
    errors = []
    for i, inst in enumerate(arrangement["instances"]):
        if inst["part"] not in want:
            errors.append(f"$.instances[{i}].part: {inst['part']!r} is not one of the parts {sorted(want)}")
        have[inst["part"]] = have.get(inst["part"], 0) + 1
        if bounds is not None and _instance_kind(inst) == "segment":
            errors += _outside(inst, i, bounds)
    for label, count in want.items():
        if have.get(label, 0) != count:
            errors.append(f"part {label!r} needs {count} instance(s), got {have.get(label, 0)}")
    return errors


def _outside(segment: dict, index: int, bounds: list[float]) -> list[str]:
    w, d, h = bounds
    slack = 0.01 * max(bounds)
    box = [(-w / 2, w / 2), (-d / 2, d / 2), (0.0, h)]
    errors = []
    for key in ("from", "to"):
        point = segment[key]
        if any(not lo - slack <= v <= hi + slack for v, (lo, hi) in zip(point, box)):
            errors.append(
                f"$.instances[{index}].{key}: {point} is outside the bounds "
                f"(x {-w / 2:g} to {w / 2:g}, y {-d / 2:g} to {d / 2:g}, z 0 to {h:g})"
            )
    return errors


class ReplyError(ValueError):
    """A reply that is not what was asked; the message goes back to the model."""


def extract_json(text: str):
    """The JSON object in a reply: bare, inside a ```json fence, or surrounded by prose."""
    if "{" not in text:
        raise ReplyError("the reply contains no JSON object")
    fenced = re.findall(r"```(?:json)?\s*\n(.*?)```", text, re.S)
    candidates = fenced + [text]
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        candidates.append(text[start : end + 1])
    error = None
    for candidate in candidates:
        try:
            value = json.loads(candidate)
        except ValueError as exc:
            error = error or exc
            continue
        if isinstance(value, dict):
            return value
    if error is None:
        raise ReplyError("the reply is JSON but not an object; answer with one {...} object")
    raise ReplyError(f"the reply is not valid JSON: {error}")


def extract_program(text: str) -> str:
    """The program in a coder reply: the longest fenced block (```pdsl or any), the rest of an
    unclosed block (a reply cut off at the token limit), else the whole text."""
    blocks = re.findall(r"```[A-Za-z0-9_-]*[ \t]*\n(.*?)```", text, re.S)
    unclosed = re.search(r"```[A-Za-z0-9_-]*[ \t]*\n(.*)$", text, re.S)
    program = max(blocks, key=len) if blocks else unclosed.group(1) if unclosed else text
    if not program.strip():
        raise ReplyError("the reply contains no program")
    return program.strip("\n") + "\n"
