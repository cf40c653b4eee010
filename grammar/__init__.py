"""Stage 1: pdsl text → syntax tree, with positioned diagnostics."""

from proto3d.errors import Diagnostic, Proto3dError, Span
from proto3d.grammar.ast import Program
from proto3d.grammar.format import format_program
from proto3d.grammar.parser import parse, parse_with_diagnostics

__all__ = [
    "parse",
    "parse_with_diagnostics",
    "format_program",
    "Program",
    "Diagnostic",
    "Proto3dError",
    "Span",
]
