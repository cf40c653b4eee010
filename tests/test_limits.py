"""Limits are defined once: the parser's defaults are the compiler's."""

from __future__ import annotations

import inspect

import pytest

from proto3d.grammar import parse, parse_with_diagnostics
from proto3d.limits import Limits


@pytest.mark.parametrize("entry", [parse, parse_with_diagnostics])
def test_the_parser_reads_the_compiler_limits(entry):
    defaults = inspect.signature(entry).parameters
    assert defaults["max_bytes"].default == Limits().max_program_bytes == 50_000
    assert defaults["max_depth"].default == Limits().max_depth == 32
    assert defaults["max_string"].default == Limits().max_string == 1_000
