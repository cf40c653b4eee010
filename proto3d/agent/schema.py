"""What the model must answer: JSON schemas, a small validator, and extraction from chat replies.

The validator covers the JSON-Schema subset the schemas use (type, properties, required,
additionalProperties, items, minItems, maxItems, minimum, maximum, exclusiveMinimum, enum,
pattern). Its messages name the JSON path, because they go back to the model verbatim in the
corrective retry.
"""

from __future__ import annotations

import json
import re

IDENT = "^[A-Za-z_][A-Za-z0-9_]*$"
VEC3 = {"type": "array", "items": {"type": "number"}, "minItems": 3, "maxItems": 3}
POS3 = {
    "type": "array",
    "items": {"type": "number", "exclusiveMinimum": 0, "maximum": 1000},
    "minItems": 3,
    "maxItems": 3,
}

BOUNDS = {
    "type": "object",
    "required": ["bounds"],
    "properties": {"bounds": POS3, "notes": {"type": "string"}},
}

PART_LIST = {
    "type": "array",
    "minItems": 1,
    "maxItems": 40,
    "items": {
        "type": "object",
        "required": ["label", "count"],
        "properties": {
            "label": {"type": "string", "pattern": IDENT},
            "count": {"type": "integer", "minimum": 1, "maximum": 64},
            "description": {"type": "string"},
        },
    },
}

PARTS = {"type": "object", "required": ["parts"], "properties": {"parts": PART_LIST}}

DESIGNS = {
    "type": "object",
    "required": ["designs"],
    "properties": {
        "designs": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["name", "description", "parts"],
                "properties": {
                    "name": {"type": "string", "pattern": "[A-Za-z0-9]"},
                    "description": {"type": "string"},
                    "parts": PART_LIST,
                },
            },
        }
    },
}

VARIANT_VERDICTS = {
    "type": "object",
    "required": ["variants"],
    "properties": {
        "variants": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["variant", "plausible"],
                "properties": {
                    "variant": {"type": "integer", "minimum": 1},
                    "plausible": {"type": "boolean"},
                    "issue": {"type": "string"},
                    "params": {"type": "array", "items": {"type": "string"}},
                },
            },
        }
    },
}

ARRANGEMENT = {
    "type": "object",
    "required": ["instances"],
    "properties": {
        "instances": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["part", "size", "position"],
                "properties": {
                    "part": {"type": "string"},
                    "size": POS3,
                    "position": VEC3,
                    "rotation": VEC3,
                    "shape": {"type": "string"},
                },
            },
        }
    },
}

VERDICT = {
    "type": "object",
    "required": ["accept", "score", "problems"],
    "properties": {
        "accept": {"type": "boolean"},
        "score": {"type": "number", "minimum": 0, "maximum": 10},
        "summary": {"type": "string"},
        "problems": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["part", "issue", "fix"],
                "properties": {
                    "part": {"type": "string"},
                    "line": {"type": ["integer", "string", "null"]},
                    "issue": {"type": "string"},
                    "fix": {"type": "string"},
                },
            },
        },
    },
}

RESERVED = set(
    "shape bounds let param part color for in if elif else and or not true false pi "
    "translate rotate scale mirror symmetric radial".split()
)

_TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "null": lambda v: v is None,
}


def validate(value, schema: dict, path: str = "$") -> list[str]:
    """Every violation of `schema` by `value`, each as "path: what is wrong"."""
    types = schema.get("type")
    if types is not None:
        names = [types] if isinstance(types, str) else types
        if not any(_TYPES[t](value) for t in names):
            return [f"{path}: expected {' or '.join(names)}, got {_kind(value)}"]
    errors = []
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{path}: must be one of {schema['enum']}, got {value!r}")
    if isinstance(value, dict):
        for key in schema.get("required", []):
            if key not in value:
                errors.append(f"{path}: missing required key {key!r}")
        props = schema.get("properties", {})
        for key, item in value.items():
            if key in props:
                errors += validate(item, props[key], f"{path}.{key}")
            elif schema.get("additionalProperties") is False:
                errors.append(f"{path}: unexpected key {key!r}")
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            errors.append(f"{path}: needs at least {schema['minItems']} items, got {len(value)}")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            errors.append(f"{path}: at most {schema['maxItems']} items, got {len(value)}")
        if "items" in schema:
            for i, item in enumerate(value):
                errors += validate(item, schema["items"], f"{path}[{i}]")
    if _TYPES["number"](value):
        if "minimum" in schema and value < schema["minimum"]:
            errors.append(f"{path}: must be >= {schema['minimum']}, got {value}")
        if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
            errors.append(f"{path}: must be > {schema['exclusiveMinimum']}, got {value}")
        if "maximum" in schema and value > schema["maximum"]:
            errors.append(f"{path}: must be <= {schema['maximum']}, got {value}")
    if isinstance(value, str) and "pattern" in schema and not re.search(schema["pattern"], value):
        errors.append(f"{path}: {value!r} does not match {schema['pattern']}")
    return errors


def _kind(value) -> str:
    for name, test in _TYPES.items():
        if test(value):
            return name
    return type(value).__name__


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


def check_arrangement(arrangement: dict, parts: dict) -> list[str]:
    """Every part of the decomposition appears exactly `count` times, and no other part does."""
    want = {p["label"]: p["count"] for p in parts["parts"]}
    have: dict[str, int] = {}
    errors = []
    for i, inst in enumerate(arrangement["instances"]):
        if inst["part"] not in want:
            errors.append(f"$.instances[{i}].part: {inst['part']!r} is not one of the parts {sorted(want)}")
        have[inst["part"]] = have.get(inst["part"], 0) + 1
    for label, count in want.items():
        if have.get(label, 0) != count:
            errors.append(f"part {label!r} needs {count} instance(s), got {have.get(label, 0)}")
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
