"""The text of one CTP element rule, parsed as CTP's DICOMAnonymizer.makeReplacement and
FnCall read it: literal text, "\\" escaping the next character, and "@name(args)" calls,
where @if and @select take two {clauses} and @append one.

Parsed once, when the script is loaded: a call to a function that is not implemented,
unbalanced parentheses or braces, refuse the script there.
"""

from __future__ import annotations

from dataclasses import dataclass

# Functions CTP's DICOMAnonymizer runs (makeReplacement) that are implemented here.
FUNCTIONS = frozenset(
    {
        "always", "append", "contents", "date", "dateinterval", "hash", "hashdate",
        "hashname", "hashptid", "hashuid", "if", "incrementdate", "initials", "integer",
        "lookup", "lowercase", "modifydate", "param", "pathelement", "process",
        "quarantine", "require", "round", "select", "skip", "time", "truncate",
        "uppercase", "value",
    }
)  # fmt: skip
# Calls CTP does not run but writes as they are, which processElements then reads as
# actions: @keep(), @remove(), @empty(), @blank(n). @setSubstring is not a CTP function
# either; CTP writes it as text too (the EUCAIM script uses it; docs/deid-ctp.md).
VERBATIM = frozenset({"keep", "remove", "empty", "blank", "setSubstring"})
NOT_IMPLEMENTED = {
    "encrypt": "Blowfish encryption with a key in the script is not supported",
    "decrypt": "Blowfish decryption is not supported",
    "call": "plug-in calls run code inside CTP",
}
WITH_CLAUSES = {"if": 2, "select": 2, "append": 1}


class RuleSyntaxError(ValueError):
    """A rule CTP would misread; the script loader adds the line."""


@dataclass(frozen=True, slots=True)
class Call:
    name: str
    args: tuple[str, ...]
    clauses: tuple[tuple[Node, ...], ...] = ()

    def arg(self, k: int) -> str:
        """FnCall.getArg: the argument trimmed, without enclosing quotes; "" if absent."""
        if k >= len(self.args):
            return ""
        value = self.args[k].strip()
        if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
            value = value[1:-1]
        return value

    @property
    def text(self) -> str:
        """FnCall.getCall: how CTP writes a call it does not run."""
        return f"@{self.name}({','.join(self.args)})"


@dataclass(frozen=True, slots=True)
class Stop:
    """An "@" not followed by "name(": CTP stops reading the rule there."""


Node = str | Call | Stop


def parse(text: str) -> tuple[Node, ...]:
    """The rule as literal text and calls; :class:`RuleSyntaxError` if malformed."""
    nodes: list[Node] = []
    literal: list[str] = []
    i = 0
    while i < len(text):
        c = text[i]
        i += 1
        if c == "\\":
            if i < len(text):
                literal.append(text[i])
                i += 1
        elif c == "@":
            if literal:
                nodes.append("".join(literal))
                literal = []
            call, length = _call(text[i:])
            if call is None:
                nodes.append(Stop())
                return tuple(nodes)
            nodes.append(call)
            i += length
        else:
            literal.append(c)
    if literal:
        nodes.append("".join(literal))
    return tuple(nodes)


def _call(text: str) -> tuple[Call | None, int]:
    """FnCall's reading of "name(args){clauses}" at the start of ``text``."""
    open_paren = text.find("(")
    if open_paren == -1:
        word = text.split(",", 1)[0].split(")", 1)[0].strip()
        if word in FUNCTIONS or word in VERBATIM or word in NOT_IMPLEMENTED:
            raise RuleSyntaxError(f"@{word} without '(': unbalanced parentheses")
        return None, -1
    name = "".join(text[:open_paren].split())
    _check_name(name)
    args, pos = _args(text, open_paren + 1, name)
    clauses: list[tuple[Node, ...]] = []
    for _ in range(WITH_CLAUSES.get(name, 0)):
        clause, pos = _clause(text, pos, name)
        clauses.append(parse(clause))
    return Call(name, tuple(args), tuple(clauses)), pos


def _check_name(name: str) -> None:
    if name in NOT_IMPLEMENTED:
        raise RuleSyntaxError(f"function @{name} is not supported: {NOT_IMPLEMENTED[name]}")
    if name not in FUNCTIONS and name not in VERBATIM:
        raise RuleSyntaxError(f"unknown function @{name}")


def _args(text: str, pos: int, name: str) -> tuple[list[str], int]:
    args: list[str] = []
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            raise RuleSyntaxError(f"@{name}(: unbalanced parentheses")
        if text[pos] == ")":
            return args, pos + 1
        arg, pos = _arg(text, pos, name)
        args.append(arg)


def _arg(text: str, pos: int, name: str) -> tuple[str, int]:
    """One argument: commas and ")" inside quotes, [brackets] or (parentheses) belong to
    it; "\\" escapes the next character."""
    out: list[str] = []
    escape = quote = False
    brackets = parens = 0
    while pos < len(text):
        c = text[pos]
        if not escape and not quote and brackets == 0 and parens == 0 and c in ",)":
            return "".join(out).strip(), pos + (c == ",")
        if not escape and c == "\\":
            escape = True
        else:
            out.append(c)
            if c == '"':
                quote = not quote
            elif not quote:
                if c == "[":
                    brackets += 1
                elif c == "]" and brackets:
                    brackets -= 1
                elif c == "(":
                    parens += 1
                elif c == ")" and parens:
                    parens -= 1
            escape = False
        pos += 1
    raise RuleSyntaxError(f"@{name}(: unbalanced parentheses or quotes")


def _clause(text: str, pos: int, name: str) -> tuple[str, int]:
    while pos < len(text) and text[pos].isspace():
        pos += 1
    if pos >= len(text) or text[pos] != "{":
        raise RuleSyntaxError(f"@{name}(...) needs a {{clause}}: unbalanced braces")
    depth = 1
    start = pos + 1
    pos = start
    while pos < len(text):
        if text[pos] == "{":
            depth += 1
        elif text[pos] == "}":
            depth -= 1
            if depth == 0:
                return text[start:pos].strip(), pos + 1
        pos += 1
    raise RuleSyntaxError(f"@{name}(...){{: unbalanced braces")


def calls(nodes: tuple[Node, ...]) -> list[Call]:
    """Every call in ``nodes``, those inside clauses too."""
    found: list[Call] = []
    for node in nodes:
        if isinstance(node, Call):
            found.append(node)
            for clause in node.clauses:
                found.extend(calls(clause))
    return found
