"""The conditions of a CTP DicomPixelAnonymizer signature (CTP DicomObject.matches): terms
``Element.method("text")`` (or ``true``/``false``) joined by ``*`` (and), ``+`` (or),
``!`` (not) and parentheses; ``//`` starts a comment. ``*`` binds tighter than ``+``.

Methods: equals, equalsIgnoreCase, matches (the whole value, a regular expression),
contains, containsIgnoreCase, startsWith, startsWithIgnoreCase, endsWith,
endsWithIgnoreCase, isLessThan, isGreaterThan (numbers: digits and dots only). A missing
element reads as "".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pydicom.dataset import Dataset

from scandepot.deid.ctp import names

METHODS = frozenset(
    {
        "equals", "equalsIgnoreCase", "matches", "contains", "containsIgnoreCase",
        "startsWith", "startsWithIgnoreCase", "endsWith", "endsWithIgnoreCase",
        "isLessThan", "isGreaterThan",
    }
)  # fmt: skip
TERM = re.compile(r'\s*([A-Za-z\[][^.(]*?)\s*\.\s*([A-Za-z]+)\s*\(\s*"((?:[^"])*)"\s*\)')
CONSTANT = re.compile(r"\s*(true|false)\b")


class MatchSyntaxError(ValueError):
    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset


@dataclass(frozen=True, slots=True)
class Term:
    element: str
    method: str
    text: str

    def test(self, ds: Dataset) -> bool:
        value = _value(ds, self.element)
        low, text = value.lower(), self.text
        method = self.method
        if method in ("isLessThan", "isGreaterThan"):
            try:
                a = float(re.sub(r"[^0-9.]", "", low))
                b = float(re.sub(r"[^0-9.]", "", text.lower()))
            except ValueError:
                return False
            return a < b if method == "isLessThan" else a > b
        if method == "matches":
            return re.fullmatch(text, value) is not None
        if method.endswith("IgnoreCase"):
            value, text, method = low, text.lower(), method.removesuffix("IgnoreCase")
        if method == "equals":
            return value == text
        if method == "contains":
            return text in value
        if method == "startsWith":
            return value.startswith(text)
        return value.endswith(text)


@dataclass(frozen=True, slots=True)
class Op:
    op: str  # "*", "+", "!"
    args: tuple[Expr, ...]


Expr = Term | Op | bool


def _value(ds: Dataset, element: str) -> str:
    current = ds
    parts = element.strip().split("::")
    for k, part in enumerate(parts):
        tag = names.standard_tag(part) or names.private_tag(current, part)
        if not tag or tag not in current:
            return ""
        elem = current[tag]
        if k < len(parts) - 1:
            if elem.VR != "SQ" or not elem.value:
                return ""
            current = elem.value[0]
        else:
            return names.text(elem) or ""
    return ""


def evaluate(expr: Expr, ds: Dataset) -> bool:
    if isinstance(expr, bool):
        return expr
    if isinstance(expr, Term):
        return expr.test(ds)
    if expr.op == "!":
        return not evaluate(expr.args[0], ds)
    if expr.op == "*":
        return all(evaluate(a, ds) for a in expr.args)
    return any(evaluate(a, ds) for a in expr.args)


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = re.sub(r"//[^\n]*", lambda m: " " * len(m.group()), text)
        self.pos = 0

    def _skip(self) -> str:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def parse(self) -> Expr:
        expr = self._or()
        if self._skip():
            raise MatchSyntaxError(f"unexpected '{self.text[self.pos]}'", self.pos)
        return expr

    def _or(self) -> Expr:
        args = [self._and()]
        while self._skip() == "+":
            self.pos += 1
            args.append(self._and())
        return args[0] if len(args) == 1 else Op("+", tuple(args))

    def _and(self) -> Expr:
        args = [self._unary()]
        while self._skip() == "*":
            self.pos += 1
            args.append(self._unary())
        return args[0] if len(args) == 1 else Op("*", tuple(args))

    def _unary(self) -> Expr:
        c = self._skip()
        if c == "!":
            self.pos += 1
            return Op("!", (self._unary(),))
        if c == "(":
            self.pos += 1
            expr = self._or()
            if self._skip() != ")":
                raise MatchSyntaxError("unbalanced parentheses", self.pos)
            self.pos += 1
            return expr
        constant = CONSTANT.match(self.text, self.pos)
        if constant:
            self.pos = constant.end()
            return constant[1] == "true"
        term = TERM.match(self.text, self.pos)
        if not term:
            raise MatchSyntaxError('expected Element.method("text")', self.pos)
        if term[2] not in METHODS:
            raise MatchSyntaxError(f"unknown method '{term[2]}'", self.pos)
        if not names.standard_tag(term[1].split("::")[0]) and not names.is_private_spec(term[1]):
            raise MatchSyntaxError(f"unknown element '{term[1]}'", self.pos)
        self.pos = term.end()
        return Term(term[1].strip(), term[2], term[3])


def parse(text: str) -> Expr:
    """The condition parsed; :class:`MatchSyntaxError` with the offset of the fault."""
    return _Parser(text).parse()
