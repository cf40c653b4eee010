"""Slot resolution: names are bound to storage while compiling, not looked up while running.

Every definition (`let`, `param`, loop variable) owns a slot of `env`, and a use reads the slot
of the definition it sees lexically, so running a statement costs no search through scopes.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

from proto3d.grammar import ast


class Scopes:
    def __init__(self):
        self.env: list = [math.pi]  # runtime values, one slot per definition
        self.stack: list[dict[str, int]] = [{"pi": 0}]  # while compiling: name -> slot, innermost last

    @contextmanager
    def nested(self) -> Iterator[None]:
        """A block's scope: its definitions are invisible after it."""
        self.stack.append({})
        try:
            yield
        finally:
            self.stack.pop()

    def define(self, name: str) -> int:
        slot = len(self.env)
        self.env.append(None)
        self.stack[-1][name] = slot
        return slot

    def resolve(self, name: str) -> int | None:
        """The slot of the definition of `name` visible here, or None (then it can only be a part)."""
        for scope in reversed(self.stack):
            if name in scope:
                return scope[name]
        return None

    def inputs(self, nodes) -> tuple[int, ...] | None:
        """The slots whose values decide what these expressions evaluate to (None if parts do too).

        The same values always give the same results, steps and checks, so a statement whose
        inputs repeat (loops over a few positions) is evaluated once per distinct input.
        """
        slots = set()
        for node in free_names(nodes):
            slot = self.resolve(node.id)
            if slot is None:  # a part: its anchors change as it grows
                return None
            slots.add(slot)
        return tuple(sorted(slots))


def free_names(nodes) -> Iterator[ast.Name]:
    """The names these expressions read from around them, walked without recursion.

    A comprehension's names are its own: `x` in `[x * 2 for x in xs]` reads nothing outside, and
    each clause sees the names of the clauses before it (the first iterable sees none of them).
    """
    stack = [(node, frozenset()) for node in reversed(nodes)]
    while stack:
        node, bound = stack.pop()
        kind = type(node)
        if kind is ast.Name:
            if node.id not in bound:
                yield node
        elif kind is ast.Comprehension:
            inner = []
            for clause in node.clauses:
                if type(clause) is ast.LoopVar:
                    inner.append((clause.iterable, bound))
                    bound = bound | {clause.name}
                else:
                    inner.append((clause.condition, bound))
            stack.extend(reversed([(node.item, bound), *inner]))
        else:
            stack.extend((child, bound) for child in reversed(ast.children(node)))
