"""Do two checkouts compile the same programs to the same bytes? The guard for a refactoring.

    python bench/compare_checkouts.py OLD_DIR NEW_DIR [--generated 1500] [--hostile 1500] [--seed 0]

One corpus of program texts is made once, by this script's own checkout, and saved to a
temporary file: every example of both checkouts, the programs of `fingerprint.py` (worst cases,
every kind, degenerate ones), every string literal in both checkouts' tests that looks like a
program, `--generated` valid programs and a fifth as many ill-typed ones drawn with a fixed seed
from the tests' hypothesis strategies, and `--hostile` inputs of the fuzzing families
(`strategies.FAMILIES`, drawn as `bench/fuzz.py` draws them).

Then each checkout runs its own code over that corpus, both at once, in a process of the
Python running this script with the checkout as working directory and first on PYTHONPATH.
Per program it records the parse tree, the formatter's output, the diagnostics (every field:
code, span, message, hint...), a hash of every field of the `CompiledShape` (each array's
dtype, shape and bytes) and of the GLB, OBJ, MTL and PLY exports and the parts manifest
(OBJ and MTL only up to OBJ_MAX_TRIANGLES: writing their text is slow).

The records are compared program by program. The first `--show` differences are printed
(program, what differs, old and new); the exit status is 1 when there is any, 0 when every
record is identical.
"""

from __future__ import annotations

import argparse
import ast
import base64
import collections
import dataclasses
import hashlib
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# OBJ text takes ~3 s a million triangles, most of the run for the few worst cases: above this
# count only the arrays, GLB, PLY and manifest are compared.
OBJ_MAX_TRIANGLES = 300_000
# A string literal in a test that is probably a program (messages and names are left out).
PROGRAM_LIKE = re.compile(r"\b(part|let|param|shape|bounds|for|if)\b.*[{=\"]|\b[a-z]+\(.*\)", re.S)


# ---- the corpus (made once, by this checkout) ----------------------------------------------
def make_corpus(dirs: list[Path], generated: int, hostile: int, seed: int) -> list[tuple[str, str | bytes]]:
    """(name, program text or bytes) pairs, each text once, in a fixed order."""
    sys.path[:0] = [str(ROOT / "bench"), str(ROOT)]
    from fingerprint import programs as fingerprint_programs

    from tests.helpers import strategies

    corpus: dict[str | bytes, str] = {}  # text -> the first name it was found under
    for folder in dirs:
        for path in sorted((folder / "examples").glob("*.pdsl")):
            corpus.setdefault(path.read_text(), f"example {path.name}")
    for name, text in fingerprint_programs():
        corpus.setdefault(text, f"fingerprint {name}")
    for folder in dirs:
        for path in sorted((folder / "tests").rglob("*.py")):
            for n, text in enumerate(_string_literals(path)):
                corpus.setdefault(text, f"{path.relative_to(folder)} literal {n}")
    valid = _drawn(strategies.programs(), generated, seed)
    for n, text in enumerate(valid):
        corpus.setdefault(text, f"generated {n}")
    for n, text in enumerate(_drawn(strategies.ill_typed_programs(), generated // 5, seed)):
        corpus.setdefault(text, f"ill-typed {n}")
    examples = [t for t, name in corpus.items() if name.startswith("example")]
    seeds = examples + valid[:300]  # what the mutating families start from
    families = list(strategies.FAMILIES)
    for index in range(hostile):
        rng = random.Random(f"{seed}:{index}")
        family = rng.choices(families, [strategies.FAMILIES[f][1] for f in families])[0]
        corpus.setdefault(strategies.FAMILIES[family][0](rng, seeds), f"{family} {index}")
    return [(name, text) for text, name in corpus.items()]


def _string_literals(path: Path) -> list[str]:
    try:
        tree = ast.parse(path.read_text(), str(path))
    except SyntaxError:
        return []
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and PROGRAM_LIKE.search(node.value)
    ]


def _drawn(strategy, count: int, seed: int) -> list[str]:
    """`count` examples of a hypothesis strategy, the same ones for the same seed."""
    import hypothesis
    from hypothesis import HealthCheck, Phase, given, settings

    drawn: list[str] = []
    if not count:
        return drawn

    @hypothesis.seed(seed)
    @settings(
        max_examples=count,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(text):
        drawn.append(text)

    collect()
    return drawn


def save_corpus(corpus, path: Path) -> None:
    entries = [
        {"name": name, "bytes": base64.b64encode(text).decode()}
        if isinstance(text, bytes)
        else {"name": name, "text": text}
        for name, text in corpus
    ]
    path.write_text(json.dumps(entries))


def load_corpus(path: Path) -> list[tuple[str, str | bytes]]:
    return [
        (e["name"], base64.b64decode(e["bytes"]) if "bytes" in e else e["text"])
        for e in json.loads(path.read_text())
    ]


# ---- one checkout over the corpus (run in a process of its own) ----------------------------
def record(text: str | bytes) -> dict:
    """What the checkout makes of one program, as JSON-able values and hashes."""
    from proto3d.compiler import compile_text
    from proto3d.compiler.export import parts_manifest, to_glb, to_obj, to_ply
    from proto3d.grammar import Proto3dError, format_program, parse_with_diagnostics

    out: dict = {}
    try:
        program, _ = parse_with_diagnostics(text)
        out["tree"] = _hash(repr(program.statements)) if program else None
        out["format"] = _hash(format_program(program)) if program else None
        shape = compile_text(text)
    except Proto3dError as error:
        out["errors"] = [_diagnostic(d) for d in error.diagnostics]
        return out
    except Exception as error:  # a bug in this checkout: compared like any other result
        out["exception"] = f"{type(error).__name__}: {error}"
        return out
    out["diagnostics"] = [_diagnostic(d) for d in shape.diagnostics]
    out["shape"] = {
        f.name: _hash(getattr(shape, f.name)) for f in dataclasses.fields(shape) if f.name != "diagnostics"
    }
    out["exports"] = {
        "glb": _hash(to_glb(shape)),
        "ply": _hash(to_ply(shape)),
        "manifest": _hash(json.dumps(parts_manifest(shape))),
    }
    if len(shape.faces) <= OBJ_MAX_TRIANGLES:
        obj, mtl = to_obj(shape)
        out["exports"].update(obj=_hash(obj), mtl=_hash(mtl))
    return out


def _diagnostic(d) -> dict:
    return {f.name: _plain(getattr(d, f.name)) for f in dataclasses.fields(d)}


def _plain(value):
    if isinstance(value, (list, tuple)):  # a diagnostic's call sites
        return [_plain(item) for item in value]
    return dataclasses.asdict(value) if dataclasses.is_dataclass(value) else value


def _hash(value) -> str:
    h = hashlib.sha256()
    _feed(h, value)
    return h.hexdigest()[:20]


def _feed(h, value) -> None:
    """Every byte of an array (with its dtype and shape), every field of a record, in order."""
    import numpy as np

    if isinstance(value, np.ndarray):
        h.update(f"array {value.dtype.str} {value.shape}".encode())
        h.update(np.ascontiguousarray(value).tobytes())
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        h.update(type(value).__name__.encode())
        for f in dataclasses.fields(value):
            h.update(f" {f.name}=".encode())
            _feed(h, getattr(value, f.name))
    elif isinstance(value, dict):
        h.update(f"dict {len(value)}".encode())
        for key, item in value.items():
            _feed(h, key)
            _feed(h, item)
    elif isinstance(value, (list, tuple)):
        h.update(f"{type(value).__name__} {len(value)}".encode())
        for item in value:
            _feed(h, item)
    elif isinstance(value, (str, bytes)):
        data = value.encode("utf-8", "surrogatepass") if isinstance(value, str) else value
        h.update(f"{type(value).__name__} {len(data)} ".encode() + data)
    else:
        h.update(repr(value).encode())


def run_checkout(corpus_path: Path, out_path: Path) -> None:
    """The worker: one JSON line per program of the corpus, written to `out_path`."""
    sys.path.remove(str(Path(__file__).resolve().parent))  # bench/'s scripts are not modules here
    import proto3d

    checkout = Path(os.getcwd()).resolve()
    if not Path(proto3d.__file__).resolve().is_relative_to(checkout):
        sys.exit(f"proto3d was imported from {proto3d.__file__}, not from {checkout}")
    with out_path.open("w") as out:
        for _, text in load_corpus(corpus_path):
            out.write(json.dumps(record(text)) + "\n")


# ---- the comparison ----------------------------------------------------------------------
def start(checkout: Path, corpus_path: Path, out_path: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(checkout), os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, str(Path(__file__).resolve()), "--run", str(corpus_path), str(out_path)]
    return subprocess.Popen(command, cwd=checkout, env=env)


def run_both(checkouts: list[Path], corpus) -> list[list[str]]:
    """Each checkout's records of the corpus (one JSON line per program), both run at once."""
    with tempfile.TemporaryDirectory(prefix="compare-checkouts-") as tmp:
        corpus_path = Path(tmp) / "corpus.json"
        save_corpus(corpus, corpus_path)
        outs = [Path(tmp) / f"records-{n}.jsonl" for n in range(len(checkouts))]
        workers = [start(checkout, corpus_path, out) for checkout, out in zip(checkouts, outs, strict=True)]
        failed = [str(c) for c, worker in zip(checkouts, workers, strict=True) if worker.wait() != 0]
        if failed:
            raise RuntimeError(f"{', '.join(failed)} failed to run the corpus (the traceback is above)")
        return [out.read_text().splitlines() for out in outs]


def differences(corpus, old_lines: list[str], new_lines: list[str]):
    """(name, text, what differs, old, new) for each record field that differs, e.g. `shape.vertices`."""
    for (name, text), old_line, new_line in zip(corpus, old_lines, new_lines, strict=True):
        if old_line == new_line:
            continue
        old, new = json.loads(old_line), json.loads(new_line)
        for key in sorted(set(old) | set(new)):
            before, after = old.get(key), new.get(key)
            if isinstance(before, dict) and isinstance(after, dict):
                for sub in sorted(set(before) | set(after)):
                    if before.get(sub) != after.get(sub):
                        yield name, text, f"{key}.{sub}", before.get(sub), after.get(sub)
            elif before != after:
                yield name, text, key, before, after


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("old", type=Path, nargs="?")
    parser.add_argument("new", type=Path, nargs="?")
    parser.add_argument(
        "--generated", type=int, default=1500, help="valid programs drawn (plus a fifth as many ill-typed)"
    )
    parser.add_argument("--hostile", type=int, default=1500, help="inputs of the fuzzing families")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--show", type=int, default=10, help="differences printed")
    parser.add_argument(
        "--ignore",
        action="append",
        default=[],
        metavar="FIELD",
        help="a field whose difference is intended (a new field such as shape.anchor_reads); repeatable",
    )
    parser.add_argument("--run", nargs=2, type=Path, metavar=("CORPUS", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.run:
        run_checkout(*args.run)
        return 0
    if args.old is None or args.new is None:
        parser.error("give the OLD and NEW checkouts")
    checkouts = [args.old.resolve(), args.new.resolve()]
    for checkout in checkouts:
        if not (checkout / "proto3d" / "__init__.py").is_file():
            parser.error(f"{checkout} is not a proto3d checkout")

    began = time.perf_counter()
    corpus = make_corpus(checkouts, args.generated, args.hostile, args.seed)
    print(f"corpus: {len(corpus)} programs, made in {time.perf_counter() - began:.0f} s", file=sys.stderr)
    began = time.perf_counter()
    try:
        old_lines, new_lines = run_both(checkouts, corpus)
    except RuntimeError as error:
        print(error, file=sys.stderr)
        return 2
    print(f"both checkouts ran it in {time.perf_counter() - began:.0f} s", file=sys.stderr)

    found = [d for d in differences(corpus, old_lines, new_lines) if d[2] not in args.ignore]
    for name, text, key, old, new in found[: args.show]:
        shown = text if isinstance(text, str) else repr(text)
        print(
            f"--- {name}: {key} differs\n{shown[:600]}\n    old: {str(old)[:600]}\n    new: {str(new)[:600]}"
        )
    if found:
        programs = len({name for name, *_ in found})
        fields = collections.Counter(key for _, _, key, *_ in found)
        print("differences by field: " + ", ".join(f"{key} {n}" for key, n in fields.most_common()))
        print(f"DIFFERENT: {len(found)} differences in {programs} of {len(corpus)} programs")
        return 1
    records = [json.loads(line) for line in new_lines]
    compiled = sum("shape" in r for r in records)
    print(
        f"identical: {len(corpus)} programs ({compiled} compiled, {len(corpus) - compiled} rejected; "
        f"{sum('exception' in r for r in records)} raised an exception in both; OBJ/MTL of "
        f"{sum('shape' in r and 'obj' not in r['exports'] for r in records)} over {OBJ_MAX_TRIANGLES} "
        "triangles not compared)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
