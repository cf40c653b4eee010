"""Part vocabularies: the shipped PartImageNet file, the loader's errors, `proto3d vocab`."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from proto3d.cli import cli
from proto3d.grammar import Proto3dError
from proto3d.vocab import Vocabulary, category_key, load_vocabulary, shipped_vocabularies

PARTIMAGENET = {
    "Quadruped": ["head", "body", "foot", "tail"],
    "Biped": ["head", "body", "hand", "foot", "tail"],
    "Fish": ["head", "body", "fin", "tail"],
    "Bird": ["head", "body", "wing", "foot", "tail"],
    "Snake": ["head", "body"],
    "Reptile": ["head", "body", "foot", "tail"],
    "Car": ["body", "tier", "side mirror"],
    "Bicycle": ["body", "head", "seat", "tier"],
    "Boat": ["body", "sail"],
    "Aeroplane": ["head", "body", "wing", "engine", "tail"],
    "Bottle": ["body", "mouth"],
}
EXAMPLES = {
    "airplane": "Aeroplane",
    "bicycle": "Bicycle",
    "bottle": "Bottle",
    "car": "Car",
    "sailboat": "Boat",
    "duck": "Bird",
    "dog": "Quadruped",
    "teddy_bear": "Biped",
}


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], prog_name="proto3d")


def error_of(path) -> str:
    with pytest.raises(Proto3dError) as caught:
        load_vocabulary(path)
    return caught.value.format()


def test_partimagenet_has_its_40_classes_in_order():
    vocab = load_vocabulary("partimagenet")
    assert shipped_vocabularies() == ["partimagenet"]
    assert vocab.name == "partimagenet" and vocab.allow_other is True
    assert {group: list(labels) for group, labels in vocab.parts.items()} == PARTIMAGENET
    assert len(vocab.all_labels()) == 40
    assert vocab.all_labels()[:5] == [
        "Quadruped/head",
        "Quadruped/body",
        "Quadruped/foot",
        "Quadruped/tail",
        "Biped/head",
    ]
    assert vocab.all_labels()[-2:] == ["Bottle/body", "Bottle/mouth"]
    assert all(
        text.strip() and "\n" not in text for labels in vocab.parts.values() for text in labels.values()
    )


def test_example_categories_map_to_their_super_category():
    vocab = load_vocabulary("partimagenet")
    for category, group in EXAMPLES.items():
        assert vocab.super_category(category) == group
        assert vocab.labels_for(category) is vocab.parts[group]
    assert list(vocab.labels_for("Teddy Bear")) == [
        "head",
        "body",
        "hand",
        "foot",
        "tail",
    ]  # run.json spelling
    assert list(vocab.labels_for("sports-car")) == ["body", "tier", "side mirror"]
    assert vocab.super_category("aeroplane") == "Aeroplane"  # a group name maps to itself
    assert vocab.labels_for("chair") is None
    assert category_key(" Office  Chair ") == category_key("office_chair") == "office_chair"


def test_vocabulary_from_a_file(tmp_path):
    path = tmp_path / "kitchen.toml"
    path.write_text(
        '[parts.mug]\nbody = "the cup"\nhandle = "the loop"\n\n[parts.Seat]\nseat = "what you sit on"\n\n'
        '[categories]\n"office chair" = "Seat"\n'
    )
    vocab = load_vocabulary(path)
    assert vocab == Vocabulary(
        "kitchen",
        {"mug": {"body": "the cup", "handle": "the loop"}, "Seat": {"seat": "what you sit on"}},
        {"office chair": "Seat"},
        False,
        "",
    )
    assert vocab.all_labels() == ["mug/body", "mug/handle", "Seat/seat"]
    assert vocab.labels_for("mug") == {"body": "the cup", "handle": "the loop"}
    assert vocab.labels_for("office_chair") == {"seat": "what you sit on"}


@pytest.mark.parametrize(
    "text, message",
    [
        ("name = 'x'\n", "error V003: `parts` is missing\n  expected: a table with at least one entry"),
        (
            "[parts]\nA = 'head'\n",
            "error V003: `parts.A` is 'head'\n  expected: a table of part labels: label = \"one-line description\"",
        ),
        (
            "[parts.A]\nhead = 3\n",
            "error V003: `parts.A.head` is 3\n  expected: a one-line description of the part",
        ),
        (
            "[parts.A]\nother = 'x'\n",
            "error V003: `parts.A.other` is 'other'\n  expected: a label other than `other` and without `/`",
        ),
        (
            "allow_other = 'yes'\n[parts.A]\nhead = 'x'\n",
            "error V003: `allow_other` is 'yes'\n  expected: true or false",
        ),
        (
            "[parts.A]\nhead = 'x'\n[categories]\ndog = 'B'\n",
            "error V003: `categories.dog` is 'B'\n  expected: one of the [parts] groups: A",
        ),
        (
            "[part.A]\nhead = 'x'\n",
            "error V003: `part` is {'A': {'head': 'x'}}\n  expected: only the keys allow_other, categories, description, name, parts",
        ),
        ("[parts.A]\nhead = \n", "V002: not valid TOML: Invalid value\n    head = \n           ^"),
    ],
)
def test_bad_vocabulary_file_names_file_key_and_expectation(tmp_path, text, message):
    path = tmp_path / "v.toml"
    path.write_text(text)
    formatted = error_of(path)
    assert formatted.startswith(f"{path}:") and message in formatted, formatted
    if "V002" in message:
        assert formatted.startswith(f"{path}:2:8: error V002")


def test_unknown_name_and_unreadable_file(tmp_path):
    assert error_of("imagenet") == (
        "imagenet: error V004: no vocabulary named `imagenet`\n"
        "  expected: one of partimagenet, or a path to a .toml file\n"
        "  hint: `proto3d vocab list` lists them"
    )
    missing = tmp_path / "none.toml"
    assert error_of(missing) == f"{missing}: error V001: cannot read {missing}: No such file or directory"
    (tmp_path / "latin1.toml").write_bytes(b"# caf\xe9\n")
    assert (
        error_of(tmp_path / "latin1.toml")
        == f"{tmp_path / 'latin1.toml'}: error V001: the file is not UTF-8 text"
    )


def test_vocab_list_and_show():
    listed = invoke("vocab", "list")
    assert listed.exit_code == 0 and listed.stderr == ""
    assert listed.stdout == (
        "partimagenet\t11 groups, 40 part classes, 66 categories\t"
        "PartImageNet's 11 super-categories and 40 part classes\n"
    )
    shown = invoke("vocab", "show", "partimagenet")
    lines = shown.stdout.splitlines()
    assert (
        shown.exit_code == 0
        and lines[0] == "partimagenet: PartImageNet's 11 super-categories and 40 part classes"
    )
    assert lines[3].split(None, 2)[:2] == ["1", "Quadruped/head"] and lines[42].split(None, 2)[:2] == [
        "40",
        "Bottle/mouth",
    ]
    assert "  Biped: teddy bear, monkey, chimpanzee, gorilla, orangutan" in lines
    as_json = json.loads(invoke("vocab", "show", "--json", "partimagenet").stdout)
    assert (
        as_json["classes"] == load_vocabulary("partimagenet").all_labels()
        and as_json["categories"]["duck"] == "Bird"
    )


def test_vocab_errors_follow_the_cli_convention(tmp_path):
    unknown = invoke("vocab", "show", "nope")
    assert unknown.exit_code == 1 and unknown.stdout == "" and unknown.stderr.startswith("nope: error V004:")
    usage = invoke("vocab", "show")
    assert usage.exit_code == 2 and "Missing argument 'NAME'" in usage.stderr
    for command in ("list", "show"):
        assert "-q, --quiet" in invoke("vocab", command, "--help").stdout
