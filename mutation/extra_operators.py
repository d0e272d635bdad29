"""Mutation operators Cosmic Ray lacks: string literals, regular expressions, collection items.

Cosmic Ray's own operators change numbers, operators, booleans and keywords anywhere in a
module, but never a string or an item of a literal table, and this package's rules live in
those: frozensets and dicts of states and codes, redaction regexes. run.py registers this
provider as ``extra``; each operator works on the parso tree like Cosmic Ray's.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from cosmic_ray.operators.operator import Example, Operator
from parso.python.tree import Operator as Punctuation
from parso.tree import BaseNode, NodeOrLeaf

Position = tuple[tuple[int, int], tuple[int, int]]

_QUOTE = re.compile(r"""^([A-Za-z]*)('''|\"\"\"|'|")""")
# {m}, {m,} or {m,n}; in an f-string the braces are doubled.
_COUNT = re.compile(r"\{\d+(?:,\d*)?\}")
_FCOUNT = re.compile(r"\{\{\d+(?:,\d*)?\}\}")
_COMPREHENSIONS = {"comp_for", "sync_comp_for"}


def _is_docstring_or_all(node: NodeOrLeaf) -> bool:
    """Whether a string is a bare statement (a docstring) or a name in ``__all__``."""
    up = node.parent if node.parent is not None and node.parent.type == "strings" else node
    if up.parent is not None and up.parent.type == "simple_stmt":
        return True
    parent = node.parent
    while parent is not None and parent.type not in ("expr_stmt", "file_input"):
        parent = parent.parent
    return (
        parent is not None
        and parent.type == "expr_stmt"
        and getattr(parent.children[0], "value", None) == "__all__"
    )


def _span(node: NodeOrLeaf) -> Position:
    return node.start_pos, node.end_pos


class ReplaceStringLiteral(Operator):
    """Wrap a string's text in XX ("pending" becomes "XXpendingXX"), docstrings left out."""

    def mutation_positions(self, node: NodeOrLeaf) -> Iterator[Position]:
        if node.type in ("string", "fstring") and not _is_docstring_or_all(node):
            yield _span(node)

    def mutate(self, node: NodeOrLeaf, index: int) -> NodeOrLeaf:
        if node.type == "fstring":
            start = node.children[0]  # fstring_start: f" or rf"
            start.value += "XX"
            node.children[-1].value = "XX" + node.children[-1].value
            return node
        prefix, quote = _QUOTE.match(node.value).groups()  # type: ignore[union-attr]
        body = node.value[len(prefix) + len(quote) : -len(quote)]
        node.value = f"{prefix}{quote}XX{body}XX{quote}"
        return node

    @classmethod
    def examples(cls) -> tuple[Example, ...]:
        return (
            Example('x = "a"', 'x = "XXaXX"'),
            Example("x = rf'{a}b'", "x = rf'XX{a}bXX'"),
        )


def _regex_edits(text: str, *, fstring: bool) -> list[tuple[int, int]]:
    """The (start, end) spans of a pattern whose removal is a mutant.

    Each quantifier, anchor, alternative of a group (or of the whole pattern), member of a
    character class, and a class's negation. In an f-string part a group may open in one part
    and close in another; such a group's alternatives are left alone.
    """
    edits: list[tuple[int, int]] = []
    groups: list[tuple[int, list[int]]] = []
    top_bars: list[int] = []
    count = _FCOUNT if fstring else _COUNT
    i, n = 0, len(text)

    def alternatives(start: int, end: int, bars: list[int]) -> None:
        edges = [start, *bars, end]
        for k in range(len(edges) - 1):
            # The first alternative goes with the bar after it, the others with the one before.
            edits.append((start, bars[0] + 1) if k == 0 else (edges[k], edges[k + 1]))

    while i < n:
        c = text[i]
        if c == "\\":
            i += 2
        elif c == "[":
            j = i + 1
            if j < n and text[j] == "^":
                edits.append((j, j + 1))
                j += 1
            members: list[tuple[int, int]] = []
            first = True
            while j < n and (text[j] != "]" or first):
                first = False
                k = j + (2 if text[j] == "\\" else 1)
                if k + 1 < n and text[k] == "-" and text[k + 1] != "]":
                    k += 3 if text[k + 1] == "\\" else 2
                members.append((j, k))
                j = k
            if len(members) > 1:
                edits.extend(members)
            i = j + 1
        elif c == "(":
            j = i + 1
            if text.startswith("?P<", j):
                j = text.find(">", j) + 1
            elif text.startswith(("?<=", "?<!"), j):
                j += 3
            elif text.startswith(("?:", "?=", "?!"), j):
                j += 2
            elif text.startswith("?", j):  # inline flags such as (?i): not a group
                i = text.find(")", j) + 1 or n
                continue
            groups.append((j, []))
            i = j
        elif c == ")":
            if groups:
                start, bars = groups.pop()
                if bars:
                    alternatives(start, i, bars)
            i += 1
        elif c == "|":
            (groups[-1][1] if groups else top_bars).append(i)
            i += 1
        elif c in "*+?^$":
            edits.append((i, i + 1))
            i += 1
        elif c == "{" and (found := count.match(text, i)):
            edits.append((i, found.end()))
            i = found.end()
        else:
            i += 2 if fstring and text.startswith(("{{", "}}"), i) else 1
    if top_bars and not groups:
        alternatives(0, n, top_bars)
    return edits


class MutateRegex(Operator):
    """Remove one piece of a raw-string pattern: a quantifier, anchor, alternative, class member.

    Raw strings (r"...", rf"...") are read as regular expressions; the package writes every
    pattern that way and no other string.
    """

    def _targets(self, node: NodeOrLeaf) -> list[tuple[NodeOrLeaf, int, int]]:
        if node.type == "string":
            prefix, quote = _QUOTE.match(node.value).groups()  # type: ignore[union-attr]
            if "r" not in prefix.lower() or "b" in prefix.lower():
                return []
            body = node.value[len(prefix) + len(quote) : -len(quote)]
            offset = len(prefix) + len(quote)
            return [(node, offset + a, offset + b) for a, b in _regex_edits(body, fstring=False)]
        if node.type == "fstring" and "r" in node.children[0].value.lower():
            return [
                (part, a, b)
                for part in node.children
                if part.type == "fstring_string"
                for a, b in _regex_edits(part.value, fstring=True)
            ]
        return []

    def mutation_positions(self, node: NodeOrLeaf) -> Iterator[Position]:
        for _ in self._targets(node):
            yield _span(node)

    def mutate(self, node: NodeOrLeaf, index: int) -> NodeOrLeaf:
        leaf, start, end = self._targets(node)[index]
        leaf.value = leaf.value[:start] + leaf.value[end:]
        return node

    @classmethod
    def examples(cls) -> tuple[Example, ...]:
        return (
            Example('x = r"a+"', 'x = r"a"'),
            Example('x = r"(?:a|b)"', 'x = r"(?:b)"'),
            Example('x = r"(?:a|b)"', 'x = r"(?:a)"', occurrence=1),
            Example('x = r"[^ab]"', 'x = r"[ab]"'),
            Example('x = r"[^ab]"', 'x = r"[^b]"', occurrence=1),
            Example("x = rf'{y}{{2,3}}'", "x = rf'{y}'"),
        )


def _items(node: BaseNode) -> list[list[NodeOrLeaf]]:
    """The items of a literal's contents, each with its children (a dict item is k: v)."""
    items: list[list[NodeOrLeaf]] = [[]]
    for child in node.children:
        if child.type == "operator" and child.value == ",":
            items.append([])
        else:
            items[-1].append(child)
    return [item for item in items if item]


class RemoveCollectionItem(Operator):
    """Remove one item of a literal set, list, tuple or dict: a row of a table."""

    def _contents(self, node: NodeOrLeaf) -> tuple[BaseNode | None, int]:
        """The node holding the items (or None) and how many there are."""
        if node.type in ("testlist_comp", "dictorsetmaker"):
            parent = node.parent
            if (
                parent is not None
                and parent.type == "atom"
                and not any(c.type in _COMPREHENSIONS for c in node.children)
                and (
                    node.type == "dictorsetmaker"
                    or any(c.type == "operator" for c in node.children)
                )
            ):
                return node, len(_items(node))  # type: ignore[arg-type]
            return None, 0
        if (
            node.type == "atom"
            and len(node.children) == 3
            and node.children[0].type == "operator"
            and node.children[0].value in "[{"
            and node.children[1].type not in ("testlist_comp", "dictorsetmaker")
        ):
            return node, 1  # type: ignore[return-value]
        return None, 0

    def mutation_positions(self, node: NodeOrLeaf) -> Iterator[Position]:
        if _is_docstring_or_all(node):
            return
        holder, count = self._contents(node)
        if holder is None:
            return
        if count == 1 and holder.type == "atom":
            yield _span(holder.children[1])
            return
        for item in _items(holder):
            yield item[0].start_pos, item[-1].end_pos

    def mutate(self, node: NodeOrLeaf, index: int) -> NodeOrLeaf:
        holder, _ = self._contents(node)
        if holder is None:
            return node
        if holder.type == "atom":
            holder.children = [holder.children[0], holder.children[-1]]
            return node
        items = _items(holder)
        kept = [item for k, item in enumerate(items) if k != index]
        children: list[NodeOrLeaf] = []
        for k, item in enumerate(kept):
            if k:
                children.append(Punctuation(",", item[0].start_pos))
            children.extend(item)
        is_tuple = node.parent.children[0].value == "("  # type: ignore[union-attr]
        trailing = holder.children[-1].type == "operator" and holder.children[-1].value == ","
        if kept and (trailing or (is_tuple and len(kept) == 1)):
            children.append(Punctuation(",", holder.children[-1].end_pos))
        holder.children = children
        return node

    @classmethod
    def examples(cls) -> tuple[Example, ...]:
        return (
            Example("x = {1, 2}", "x = { 2}"),
            Example("x = {1, 2}", "x = {1}", occurrence=1),
            Example("x = {'a': 1, 'b': 2}", "x = {'a': 1}", occurrence=1),
            Example("x = (1, 2)", "x = (1,)", occurrence=1),
            Example("x = [1]", "x = []"),
        )


class ExtraOperators:
    """The Cosmic Ray operator provider of this folder's operators."""

    _operators: dict[str, type[Operator]] = {
        "ReplaceStringLiteral": ReplaceStringLiteral,
        "MutateRegex": MutateRegex,
        "RemoveCollectionItem": RemoveCollectionItem,
    }

    def __iter__(self) -> Iterator[str]:
        return iter(self._operators)

    def __getitem__(self, name: str) -> type[Operator]:
        return self._operators[name]
