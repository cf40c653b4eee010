"""Part vocabularies: the fixed part labels a benchmark's masks use, per super-category.

    vocab = load_vocabulary("partimagenet")        # shipped with proto3d, or a path to a TOML file
    vocab.labels_for("teddy bear")                 # {"head": "...", "body": "...", "hand": ..., ...}
    vocab.all_labels()                             # ["Quadruped/head", ..., "Bottle/mouth"]: mask ids 1..N

A vocabulary file (TOML) names its part groups under [parts] and maps categories to them:

    description = "PartImageNet's 11 super-categories and 40 part classes"
    allow_other = true                  # a part with no counterpart may be labelled `other`

    [parts.Quadruped]                   # a super-category (or a single category): label = description
    head = "the head, with ears, snout and horns"

    [categories]                        # category = super-category
    dog = "Quadruped"

Classes are (super-category, label) pairs, as in PartImageNet where a quadruped's head and a
biped's head are different classes; `all_labels` names them "Quadruped/head" in the order the
file writes them. Category names are matched ignoring case, spaces, hyphens and underscores, so
a run's "teddy bear" and an example's `teddy_bear` are the same category.
"""

from __future__ import annotations

import fnmatch
import re
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from proto3d.errors import Proto3dError, Span, diagnostic

OTHER = "other"  # the label of a part with no counterpart, where a vocabulary allows it

# Diagnostic codes of vocabulary and label-map files.
UNREADABLE = "V001"  # missing, unreadable, not UTF-8
NOT_TOML = "V002"  # a TOML syntax error
BAD_VALUE = "V003"  # a key is missing, unknown or of the wrong kind
UNKNOWN_VOCABULARY = "V004"  # neither a shipped name nor a file
UNKNOWN_CATEGORY = "V005"  # a dataset category the label map's vocabulary does not map

_SHIPPED = "vocabularies"  # the package folder holding the shipped vocabularies


@dataclass(frozen=True)
class Vocabulary:
    name: str
    parts: dict[str, dict[str, str]]  # super-category -> {label: description}, in file order
    categories: dict[str, str]  # category -> super-category
    allow_other: bool = False
    description: str = ""

    def super_category(self, category: str) -> str | None:
        """The part group a category belongs to: its mapped super-category, or itself when it names
        a group; None when the vocabulary does not know it."""
        key = category_key(category)
        for name, group in self.categories.items():
            if category_key(name) == key:
                return group
        return next((group for group in self.parts if category_key(group) == key), None)

    def labels_for(self, category: str) -> dict[str, str] | None:
        """The labels (with descriptions) a part of `category` may take; None for an unknown category."""
        group = self.super_category(category)
        return None if group is None else self.parts[group]

    def all_labels(self) -> list[str]:
        """Every class as "group/label", in file order; class i + 1 is mask id i + 1 (0 = background)."""
        return [f"{group}/{label}" for group, labels in self.parts.items() for label in labels]


def category_key(name: str) -> str:
    """What category names are compared by: lower case, runs of anything but letters and digits as one `_`."""
    return re.sub(r"[\W_]+", "_", name.lower()).strip("_")


def shipped_vocabularies() -> list[str]:
    """Names of the vocabularies installed with proto3d."""
    folder = resources.files("proto3d") / _SHIPPED
    return sorted(entry.name[: -len(".toml")] for entry in folder.iterdir() if entry.name.endswith(".toml"))


def load_vocabulary(name_or_path: str | Path) -> Vocabulary:
    """A shipped vocabulary by name ("partimagenet") or one from a TOML file; a bad file is a
    Proto3dError naming the file, the key and what was expected."""
    text = str(name_or_path)
    if text in shipped_vocabularies():
        resource = resources.files("proto3d") / _SHIPPED / f"{text}.toml"
        return parse_vocabulary(resource.read_text(encoding="utf-8"), f"{text}.toml", default_name=text)
    path = Path(name_or_path)
    if not path.exists() and path.suffix != ".toml" and len(path.parts) == 1:
        raise Proto3dError(
            diagnostic(
                UNKNOWN_VOCABULARY,
                f"no vocabulary named `{text}`",
                expected=f"one of {', '.join(shipped_vocabularies())}, or a path to a .toml file",
                hint="`proto3d vocab list` lists them",
            ),
            text,
        )
    return parse_vocabulary(read_toml_text(path), str(path), default_name=path.stem)


def read_toml_text(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8-sig")
    except OSError as error:
        raise Proto3dError(
            diagnostic(UNREADABLE, f"cannot read {path}: {error.strerror}"), str(path)
        ) from None
    except UnicodeDecodeError:
        raise Proto3dError(diagnostic(UNREADABLE, "the file is not UTF-8 text"), str(path)) from None


def parse_toml(text: str, filename: str) -> dict:
    """TOML text -> tables; a syntax error is a diagnostic at tomllib's line and column."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        message = str(error)
        where = re.search(r"\(at line (\d+), column (\d+)\)", message)
        span = Span(int(where[1]), int(where[2]), int(where[1]), int(where[2]) + 1) if where else Span()
        message = message[: where.start()].strip() if where else message
        error = diagnostic(NOT_TOML, f"not valid TOML: {message}", span)
        raise Proto3dError(error.with_source(text), filename) from None


def bad_value(filename: str, key: str, expected: str, found=None) -> Proto3dError:
    """The error for a key of a TOML file that is missing or holds the wrong kind of value."""
    what = "is missing" if found is None else f"is {found!r}"
    return Proto3dError(diagnostic(BAD_VALUE, f"`{key}` {what}", expected=expected), filename)


def table(data: dict, key: str, filename: str, where: str) -> dict:
    value = data.get(key)
    if not isinstance(value, dict) or not value:
        raise bad_value(filename, f"{where}{key}", "a table with at least one entry", value)
    return value


def parse_vocabulary(text: str, filename: str, default_name: str = "vocabulary") -> Vocabulary:
    """A vocabulary from TOML text (see the module docstring for the format)."""
    data = parse_toml(text, filename)
    known = {"name", "description", "allow_other", "parts", "categories"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise bad_value(filename, unknown[0], f"only the keys {', '.join(sorted(known))}", data[unknown[0]])
    name, description, allow_other = (
        data.get("name", default_name),
        data.get("description", ""),
        data.get("allow_other", False),
    )
    for key, value, kind in [
        ("name", name, str),
        ("description", description, str),
        ("allow_other", allow_other, bool),
    ]:
        if not isinstance(value, kind):
            raise bad_value(filename, key, "true or false" if kind is bool else "a string", value)
    parts: dict[str, dict[str, str]] = {}
    for group, labels in table(data, "parts", filename, "").items():
        if not isinstance(labels, dict) or not labels:
            raise bad_value(
                filename, f"parts.{group}", 'a table of part labels: label = "one-line description"', labels
            )
        for label, meaning in labels.items():
            if not isinstance(meaning, str) or not meaning.strip():
                raise bad_value(
                    filename, f"parts.{group}.{label}", "a one-line description of the part", meaning
                )
            if label == OTHER or "/" in label:
                raise bad_value(
                    filename, f"parts.{group}.{label}", f"a label other than `{OTHER}` and without `/`", label
                )
        parts[group] = dict(labels)
    categories = data.get("categories", {})
    if not isinstance(categories, dict):
        raise bad_value(filename, "categories", "a table: category = super-category", categories)
    for category, group in categories.items():
        if group not in parts:
            raise bad_value(
                filename, f"categories.{category}", f"one of the [parts] groups: {', '.join(parts)}", group
            )
    return Vocabulary(name, parts, dict(categories), allow_other, description)


# ---- label maps: free labels of existing programs -> a vocabulary's classes ---------------------

IGNORE = "ignore"  # a label map's target for parts that belong to no class
IGNORE_INDEX = 255  # their value in the masks: mmsegmentation's ignore index in 8-bit label PNGs


@dataclass(frozen=True)
class LabelMap:
    """Maps the part labels programs use (`back_spindle`, `wheel_front`) to a vocabulary's labels.

    A file (TOML) names its vocabulary, may add categories the vocabulary does not know, and gives
    rules `glob = "label"` (fnmatch globs; the target may be `ignore`):

        vocabulary = "partimagenet"     # a shipped name, or a path relative to this file
        [categories]                    # more category = super-category entries
        tricycle = "Bicycle"
        [labels]                        # for every category
        "wheel*" = "tier"
        "*leg*" = "foot"
        [labels.Boat]                   # for one super-category or category only: tried first
        mast = "sail"

    A label is resolved in this order: a label the category's group already has keeps it; `other`
    is ignored; then the first matching rule of the category's own table, of its group's table,
    then of [labels], skipping rules whose target the group lacks (so "wing" can serve birds and
    aeroplanes). A label no rule matches is *unmapped*: ignored in the masks, and counted.
    """

    vocabulary: Vocabulary
    rules: dict[str, str]  # glob -> vocabulary label or "ignore", for every category
    scoped: dict[str, dict[str, str]]  # category or group -> its own rules
    categories: dict[str, str]  # category -> group, beyond the vocabulary's
    source: str  # the file, for messages

    def group(self, category: str) -> str:
        """The category's super-category; an unknown category is an error (its masks would be all ignore)."""
        key = category_key(category)
        extra = next((g for c, g in self.categories.items() if category_key(c) == key), None)
        group = extra or self.vocabulary.super_category(category)
        if group is None:
            raise Proto3dError(
                diagnostic(
                    UNKNOWN_CATEGORY,
                    f"category `{category}` has no super-category in the vocabulary `{self.vocabulary.name}`",
                    expected=f"one of its groups: {', '.join(self.vocabulary.parts)}",
                    hint=f'add `"{category}" = "GROUP"` under [categories] in {self.source}, or leave its prototypes out',
                ),
                self.source,
            )
        return group

    def target(self, category: str, label: str) -> str | None:
        """The vocabulary label `label` takes in `category`, "ignore", or None when no rule maps it."""
        group = self.group(category)
        labels = self.vocabulary.parts[group]
        if label in labels:
            return label
        if label == OTHER:
            return IGNORE
        tables = [
            rules for scope, rules in self.scoped.items() if category_key(scope) == category_key(category)
        ]
        tables += [self.scoped[group]] if group in self.scoped else []
        for rules in [*tables, self.rules]:
            for pattern, target in rules.items():
                if fnmatch.fnmatchcase(label, pattern) and (target == IGNORE or target in labels):
                    return target
        return None

    def class_id(self, category: str, label: str) -> int:
        """The mask value of `label` in `category`: its class's id (1..N), or IGNORE_INDEX."""
        target = self.target(category, label)
        if target is None or target == IGNORE:
            return IGNORE_INDEX
        return self.vocabulary.all_labels().index(f"{self.group(category)}/{target}") + 1


def load_label_map(path: str | Path) -> LabelMap:
    """A label map from its TOML file; a bad file is a Proto3dError naming the key and what was expected.

    The name of a shipped vocabulary (that is not also a file here) is the map without rules: for
    programs that already use its labels, as `proto3d agent --vocab` makes them.
    """
    if str(path) in shipped_vocabularies() and not Path(path).exists():
        return LabelMap(load_vocabulary(str(path)), {}, {}, {}, str(path))
    path = Path(path)
    filename = str(path)
    data = parse_toml(read_toml_text(path), filename)
    unknown = sorted(set(data) - {"vocabulary", "categories", "labels"})
    if unknown:
        raise bad_value(
            filename, unknown[0], "only the keys vocabulary, categories, labels", data[unknown[0]]
        )
    name = data.get("vocabulary")
    if not isinstance(name, str):
        raise bad_value(
            filename, "vocabulary", "the name of a shipped vocabulary or the path of its .toml file", name
        )
    looks_like_a_path = Path(name).suffix == ".toml" or len(Path(name).parts) > 1
    try:
        vocab = load_vocabulary(path.parent / name if looks_like_a_path else name)
    except Proto3dError as error:
        if error.diagnostics[0].code != UNKNOWN_VOCABULARY:
            raise  # the vocabulary file's own error, naming it
        raise bad_value(filename, "vocabulary", error.diagnostics[0].expected, name) from None
    categories = data.get("categories", {})
    if not isinstance(categories, dict):
        raise bad_value(filename, "categories", "a table: category = super-category", categories)
    for category, group in categories.items():
        if group not in vocab.parts:
            raise bad_value(
                filename,
                f"categories.{category}",
                f"one of the groups of {vocab.name}: {', '.join(vocab.parts)}",
                group,
            )
    all_labels = {label for labels in vocab.parts.values() for label in labels}
    rules, scoped = {}, {}
    labels = data.get("labels", {})
    if not isinstance(labels, dict):
        raise bad_value(filename, "labels", 'a table of rules: "glob" = "label"', labels)
    for key, value in labels.items():
        if isinstance(value, str):
            rules[key] = _rule_target(filename, f"labels.{key}", value, all_labels)
            continue
        if not isinstance(value, dict):
            raise bad_value(
                filename, f"labels.{key}", 'a vocabulary label (or "ignore"), or a table of rules', value
            )
        group = categories.get(key) or vocab.super_category(key)
        if group is None:
            raise bad_value(
                filename, f"labels.{key}", "a table named after a group or a category of the vocabulary", key
            )
        scoped[key] = {
            pattern: _rule_target(filename, f"labels.{key}.{pattern}", target, set(vocab.parts[group]))
            for pattern, target in value.items()
        }
    return LabelMap(vocab, rules, scoped, dict(categories), filename)


def _rule_target(filename: str, key: str, target, allowed: set[str]) -> str:
    if target != IGNORE and target not in allowed:
        raise bad_value(filename, key, f'one of {", ".join(sorted(allowed))}, or "{IGNORE}"', target)
    return target
