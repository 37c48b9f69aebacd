"""A linear-time engine for the regular subset of JavaScript's pattern syntax.

Filters take ``{"regexp": pattern}`` from untrusted websocket clients, and Python's :mod:`re`
backtracks: ``(a+)+$`` against ``"a" * 30 + "b"`` takes minutes. Here a pattern is parsed (the
JavaScript syntax, no flags), compiled to NFA instructions, and searched with a DFA built lazily,
one state per set of NFA threads (as RE2 does): every character is read once, and costs one dict
lookup once its transition is cached, one pass over the program otherwise. The cache is bounded.
Backreferences and lookarounds, which no automaton can run, are refused.

Private to :mod:`ddbes.filters`, which documents the syntax.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ddbes.errors import InvalidFilter

__all__ = ["Regexp"]


_LINE_TERMINATORS = "\n\r\u2028\u2029"
_SPACE = "\t\n\v\f\r \u00a0\u1680\u2028\u2029\u202f\u205f\u3000\ufeff" + "".join(
    chr(c) for c in range(0x2000, 0x200B)
)
_WORD = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
_CACHE_LIMIT = 10_000  # cached DFA states plus transitions, per pattern


@dataclass(frozen=True, slots=True)
class _Class:
    """A set of characters: ranges of code points, maybe negated."""

    ranges: tuple[tuple[int, int], ...]
    negated: bool = False

    def __contains__(self, char: str) -> bool:
        code = ord(char)
        for lo, hi in self.ranges:
            if lo <= code <= hi:
                return not self.negated
        return self.negated


def _chars(text: str) -> tuple[tuple[int, int], ...]:
    return tuple((ord(c), ord(c)) for c in text)


_DIGIT = ((48, 57),)
_WORD_RANGES = ((48, 57), (65, 90), (95, 95), (97, 122))
_NAMED = {
    "d": (_DIGIT, False),
    "D": (_DIGIT, True),
    "w": (_WORD_RANGES, False),
    "W": (_WORD_RANGES, True),
    "s": (_chars(_SPACE), False),
    "S": (_chars(_SPACE), True),
}
_CONTROL = {"n": "\n", "r": "\r", "t": "\t", "f": "\f", "v": "\v", "0": "\0"}

# AST nodes: ("class", _Class) | ("cat", [node]) | ("alt", [node]) | ("rep", node, lo, hi|None)
#            | ("assert", "^" | "$" | "b" | "B")
_Node = tuple[Any, ...]


class _Parser:
    def __init__(self, pattern: str, where: str) -> None:
        self.src = pattern
        self.at = 0
        self.where = where
        self.depth = 0

    def fail(self, why: str) -> InvalidFilter:
        return InvalidFilter(f"{self.where}: regexp {self.src[:80]!r}: {why} (at offset {self.at})")

    def peek(self, ahead: int = 0) -> str:
        index = self.at + ahead
        return self.src[index] if index < len(self.src) else ""

    def parse(self) -> _Node:
        node = self.alternation()
        if self.at < len(self.src):
            raise self.fail("unmatched ')'")
        return node

    def alternation(self) -> _Node:
        branches = [self.sequence()]
        while self.peek() == "|":
            self.at += 1
            branches.append(self.sequence())
        return branches[0] if len(branches) == 1 else ("alt", branches)

    def sequence(self) -> _Node:
        items: list[_Node] = []
        while self.at < len(self.src) and self.peek() not in "|)":
            atom = self.atom()
            bounds = self.quantifier()
            if bounds is not None:
                if atom[0] == "assert":
                    raise self.fail("nothing to repeat")
                atom = ("rep", atom, *bounds)
            items.append(atom)
        return ("cat", items)

    def quantifier(self) -> tuple[int, int | None] | None:
        char = self.peek()
        if char in ("*", "+", "?") and char:
            self.at += 1
            bounds: tuple[int, int | None] = {"*": (0, None), "+": (1, None), "?": (0, 1)}[char]
        elif char == "{" and (braced := self.braces()) is not None:
            bounds = braced
        else:
            return None
        if self.peek() == "?":
            self.at += 1  # lazy: the same language, and we only ask whether it matches
        return bounds

    def braces(self) -> tuple[int, int | None] | None:
        end = self.src.find("}", self.at)
        body = self.src[self.at + 1 : end] if end > 0 else ""
        low, comma, high = body.partition(",")
        if not _is_number(low) or not (_is_number(high) or high == ""):
            return None  # JavaScript reads a "{" that starts no quantifier as a literal
        lo, hi = int(low), (int(high) if high else (None if comma else int(low)))
        if hi is not None and hi < lo:
            raise self.fail("numbers out of order in {} quantifier")
        if lo > 1000 or (hi or 0) > 1000:
            raise self.fail("a repeat count over 1000")
        self.at = end + 1
        return lo, hi

    def atom(self) -> _Node:
        char = self.peek()
        self.at += 1
        if char == "(":
            return self.group()
        if char == "[":
            return ("class", self.char_class())
        if char == ".":
            return ("class", _Class(_chars(_LINE_TERMINATORS), True))
        if char in "^$":
            return ("assert", char)
        if char == "\\":
            return self.escape()
        if char in "*+?" or (char == "{" and self.braces_at(self.at - 1)):
            self.at -= 1
            raise self.fail("nothing to repeat")
        return ("class", _Class(((ord(char), ord(char)),)))

    def braces_at(self, index: int) -> bool:
        saved = self.at
        self.at = index
        try:
            return self.braces() is not None
        finally:
            self.at = saved

    def group(self) -> _Node:
        if self.peek() == "?":
            two = self.src[self.at : self.at + 3]
            if two.startswith("?:"):
                self.at += 2
            elif two in ("?<=", "?<!") or two.startswith(("?=", "?!")):
                raise self.fail("lookaround assertions are not supported")
            elif two.startswith("?<"):
                end = self.src.find(">", self.at)
                if end < 0:
                    raise self.fail("unterminated group name")
                self.at = end + 1
            else:
                raise self.fail("invalid group")
        self.depth += 1
        if self.depth > 50:
            raise self.fail("groups nested deeper than 50")
        node = self.alternation()
        self.depth -= 1
        if self.peek() != ")":
            raise self.fail("missing ')'")
        self.at += 1
        return node

    def escape(self, in_class: bool = False) -> _Node:
        char = self.peek()
        if not char:
            raise self.fail("the pattern ends with a backslash")
        self.at += 1
        if char in _NAMED:
            return ("class", _Class(*_NAMED[char]))
        if char in "bB" and not in_class:
            return ("assert", char)
        if char == "b":
            return ("class", _Class(((8, 8),)))  # [\b] is a backspace
        if char.isdigit() and char != "0":
            raise self.fail("backreferences are not supported")
        if char == "k" and self.peek() == "<":
            raise self.fail("named backreferences are not supported")
        if char in _CONTROL and not (char == "0" and self.peek().isdigit()):
            return ("class", _Class(((ord(_CONTROL[char]),) * 2,)))
        if char == "c" and self.peek().isascii() and self.peek().isalpha():
            self.at += 1
            code = ord(self.src[self.at - 1]) % 32
            return ("class", _Class(((code, code),)))
        if char in "xu":
            if char == "u" and self.peek() == "{":
                raise self.fail("\\u{...} needs the u flag, which filters do not take")
            width = 2 if char == "x" else 4
            digits = self.src[self.at : self.at + width]
            if len(digits) == width and all(d in "0123456789abcdefABCDEF" for d in digits):
                self.at += width
                code = int(digits, 16)
                return ("class", _Class(((code, code),)))
        return ("class", _Class(((ord(char), ord(char)),)))  # an identity escape: \. \/ \-

    def char_class(self) -> _Class:
        negated = self.peek() == "^"
        if negated:
            self.at += 1
        ranges: list[tuple[int, int]] = []
        while self.peek() != "]":
            if not self.peek():
                raise self.fail("missing ']'")
            low = self.class_atom()
            if self.peek() == "-" and self.peek(1) not in ("]", ""):
                self.at += 1
                high = self.class_atom()
                if isinstance(low, int) and isinstance(high, int):
                    if high < low:
                        raise self.fail("range out of order in character class")
                    ranges.append((low, high))
                    continue
                ranges.extend(_as_ranges(low))
                ranges.append((45, 45))
                ranges.extend(_as_ranges(high))
                continue
            ranges.extend(_as_ranges(low))
        self.at += 1
        return _Class(tuple(ranges), negated)

    def class_atom(self) -> int | _Class:
        char = self.peek()
        self.at += 1
        if char != "\\":
            return ord(char)
        node = self.escape(in_class=True)
        cls: _Class = node[1]
        if not cls.negated and len(cls.ranges) == 1 and cls.ranges[0][0] == cls.ranges[0][1]:
            return cls.ranges[0][0]
        return cls


def _is_number(text: str) -> bool:
    return bool(text) and all(c in "0123456789" for c in text)


def _as_ranges(item: int | _Class) -> list[tuple[int, int]]:
    if isinstance(item, int):
        return [(item, item)]
    if not item.negated:
        return list(item.ranges)
    gaps, start = [], 0
    for lo, hi in sorted(item.ranges):
        if lo > start:
            gaps.append((start, lo - 1))
        start = max(start, hi + 1)
    return [*gaps, (start, 0x10FFFF)]


# Program instructions: (op, a, b). op: 0 char (a=_Class), 1 split (a, b), 2 jump (a),
# 3 assert (a=kind), 4 match.
_CHAR, _SPLIT, _JUMP, _ASSERT, _MATCH = range(5)


class _Compiler:
    def __init__(self, limit: int, fail: Callable[[str], InvalidFilter]) -> None:
        self.prog: list[list[Any]] = []
        self.limit = limit
        self.fail = fail

    def emit(self, op: int, a: Any = None, b: Any = None) -> int:
        if len(self.prog) >= self.limit:
            raise self.fail(f"the pattern compiles to over {self.limit} instructions")
        self.prog.append([op, a, b])
        return len(self.prog) - 1

    def node(self, node: _Node) -> None:
        kind = node[0]
        if kind == "class":
            self.emit(_CHAR, node[1])
        elif kind == "assert":
            self.emit(_ASSERT, node[1])
        elif kind == "cat":
            for item in node[1]:
                self.node(item)
        elif kind == "alt":
            jumps = []
            for branch in node[1][:-1]:
                split = self.emit(_SPLIT)
                self.prog[split][1] = len(self.prog)
                self.node(branch)
                jumps.append(self.emit(_JUMP))
                self.prog[split][2] = len(self.prog)
            self.node(node[1][-1])
            for jump in jumps:
                self.prog[jump][1] = len(self.prog)
        else:
            _, body, low, high = node
            for _ in range(low):
                self.node(body)
            if high is None:
                split = self.emit(_SPLIT)
                self.prog[split][1] = len(self.prog)
                self.node(body)
                self.emit(_JUMP, split)
                self.prog[split][2] = len(self.prog)
            else:
                splits = []
                for _ in range(high - low):
                    split = self.emit(_SPLIT)
                    self.prog[split][1] = len(self.prog)
                    splits.append(split)
                    self.node(body)
                for split in splits:
                    self.prog[split][2] = len(self.prog)


def _anchored(node: _Node) -> bool:
    if node[0] == "assert":
        return bool(node[1] == "^")
    if node[0] == "cat":
        return bool(node[1]) and _anchored(node[1][0])
    if node[0] == "alt":
        return all(_anchored(branch) for branch in node[1])
    return False


class _State:
    __slots__ = ("at_start", "end", "prev_word", "threads", "trans")

    def __init__(self, threads: frozenset[int], at_start: bool, prev_word: bool) -> None:
        self.threads = threads
        self.at_start = at_start
        self.prev_word = prev_word
        self.trans: dict[str, _State | bool] = {}  # True: a match; False: no match possible
        self.end: bool | None = None


class Regexp:
    """A pattern compiled for linear-time search (:mod:`ddbes.filters` documents the syntax).

    Raises:
        InvalidFilter: the pattern is too long, not valid, or uses an unsupported construct.
    """

    __slots__ = (
        "_anchored",
        "_budget",
        "_cache",
        "_cached",
        "_limit",
        "_prog",
        "_start",
        "_work",
        "pattern",
    )

    def __init__(
        self,
        pattern: str,
        *,
        max_length: int = 256,
        max_program_size: int = 2000,
        max_search_length: int = 4096,
        max_search_work: int = 50_000,
        where: str = "pattern",
    ) -> None:
        if len(pattern) > max_length:
            raise InvalidFilter(
                f"{where}: the regexp has {len(pattern)} characters, over the limit of {max_length}"
            )
        parser = _Parser(pattern, where)
        tree = parser.parse()
        compiler = _Compiler(max_program_size, parser.fail)
        compiler.node(tree)
        compiler.emit(_MATCH)
        self.pattern = pattern
        self._prog = tuple(tuple(ins) for ins in compiler.prog)
        self._anchored = _anchored(tree)
        self._limit = max_search_length
        self._budget = max_search_work
        self._work = 0
        self._cache: dict[tuple[frozenset[int], bool, bool], _State] = {}
        self._cached = 0
        self._start = _State(frozenset((0,)), True, False)

    def _state(self, threads: frozenset[int], at_start: bool, prev_word: bool) -> _State:
        key = (threads, at_start, prev_word)
        state = self._cache.get(key)
        if state is None:
            if self._cached >= _CACHE_LIMIT:
                # Bounded memory: drop every cached state (a search in progress keeps its own).
                self._cache.clear()
                self._cached = 0
                self._start = _State(frozenset((0,)), True, False)
            state = self._cache[key] = _State(threads, at_start, prev_word)
            self._cached += 1
        return state

    def _closure(self, state: _State, following: str) -> tuple[list[int], bool]:
        """The character instructions reachable without consuming, and whether MATCH is."""
        prog = self._prog
        next_word = following in _WORD
        seen: set[int] = set()
        stack = list(state.threads)
        chars: list[int] = []
        self._work += 16 + len(prog)  # a rough cost of one closure, in loop iterations
        if self._work > self._budget:
            raise InvalidFilter(
                f"regexp {self.pattern[:80]!r} needs too much work on a {self._limit}-character "
                "value (its automaton has too many states): use a simpler pattern"
            )
        while stack:
            pc = stack.pop()
            if pc in seen:
                continue
            seen.add(pc)
            op, a, b = prog[pc]
            if op == _CHAR:
                chars.append(pc)
            elif op == _SPLIT:
                stack.append(b)
                stack.append(a)
            elif op == _JUMP:
                stack.append(a)
            elif op == _ASSERT:
                if a == "^":
                    ok = state.at_start
                elif a == "$":
                    ok = following == ""
                else:
                    ok = (state.prev_word != next_word) == (a == "b")
                if ok:
                    stack.append(pc + 1)
            else:
                return chars, True
        return chars, False

    def _step(self, state: _State, char: str) -> _State | bool:
        chars, matched = self._closure(state, char)
        if matched:
            result: _State | bool = True
        else:
            prog = self._prog
            threads = {pc + 1 for pc in chars if char in prog[pc][1]}
            if not self._anchored:
                threads.add(0)
            result = self._state(frozenset(threads), False, char in _WORD) if threads else False
        state.trans[char] = result
        self._cached += 1
        return result

    def search(self, text: str) -> bool:
        """Whether the pattern occurs in the first ``max_search_length`` characters of ``text``.

        Raises:
            InvalidFilter: the search needs more than ``max_search_work`` steps of automaton
                construction (each costs one pass over the program): a pathological pattern.
        """
        following = ""
        self._work = 0
        if len(text) > self._limit:
            following = text[self._limit]
            text = text[: self._limit]
        state = self._start
        for char in text:
            step = state.trans.get(char)
            if step is None:
                step = self._step(state, char)
            if not isinstance(step, _State):
                return step
            state = step
        if following:
            return self._closure(state, following)[1]
        if state.end is None:
            state.end = self._closure(state, "")[1]
        return state.end

    def __repr__(self) -> str:
        return f"Regexp({self.pattern!r})"
