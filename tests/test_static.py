"""Static tools follow the code: pyright resolves every import over the package, the tests and the
benchmarks, and type-checks the files marked `# pyright: basic`; the README's set-up is what CI runs."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = (
    "proto3d",
    "grammar",
    "compiler",
    "renderer",
    "prompts",
    "tests",
    "bench",
)  # pyproject's [tool.pyright]


def _pyright() -> str:
    """node_modules/.bin/pyright, as the README's test command installs it (or $PROTO3D_PYRIGHT)."""
    found = os.environ.get("PROTO3D_PYRIGHT") or shutil.which(
        "pyright", path=str(ROOT / "node_modules" / ".bin")
    )
    if not found:
        pytest.fail(
            "pyright not found: run the README's test command (it installs pyright with npm), "
            "or set PROTO3D_PYRIGHT to a pyright executable"
        )
    return found


def test_pyright_reports_no_errors():
    command = [
        _pyright(),
        "--outputjson",
        "--project",
        str(ROOT),
        "--pythonpath",
        sys.executable,
    ]  # pyproject's config,
    result = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=900
    )  # not a parent folder's
    report = json.loads(result.stdout)
    errors = [
        f"{d['file']}:{d['range']['start']['line'] + 1}: {d['message']} ({d.get('rule', '')})"
        for d in report["generalDiagnostics"]
        if d["severity"] == "error"
    ]
    assert errors == []
    sources = [
        path
        for folder in FOLDERS
        for path in (ROOT / folder).rglob("*.py")
        if "__pycache__" not in path.parts
    ]
    assert report["summary"]["filesAnalyzed"] >= len(sources)


def test_stage_folders_are_linked_into_the_package():
    """proto3d/<stage> links to the top-level stage folder, so editors, pyright and a plain
    `python` in the repository resolve `proto3d.<stage>` the same way the installed package does."""
    for stage in ("grammar", "compiler", "renderer", "prompts"):
        link = ROOT / "proto3d" / stage
        assert link.is_symlink() and link.resolve() == ROOT / stage
        assert os.readlink(link) == f"../{stage}"  # relative, so any clone works


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    setup = text.split("## Set-up", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", setup)


def test_ci_runs_the_readme_set_up_and_test_commands():
    commands = _readme_commands()
    assert len(commands) == 2, "the README's set-up is two commands: install + main job, tests"
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()]
    for command in commands:
        assert command in ci
    assert ci.index(commands[0]) < ci.index(commands[1])


@pytest.mark.parametrize(
    "command",
    [["check", "--no-cache", "."], ["format", "--check", "--no-cache", "."]],
    ids=["lint", "format"],
)
def test_ruff_passes(command):
    """The style is pinned in pyproject's [tool.ruff]; CI fails on a lint or an unformatted file."""
    result = subprocess.run(
        [sys.executable, "-m", "ruff", *command], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
