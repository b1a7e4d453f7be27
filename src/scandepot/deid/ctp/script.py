"""Reading a CTP DicomAnonymizer script (CTP DAScript): XML with

- ``<p t="NAME">value</p>``: a parameter, read by ``@NAME`` in function arguments;
- ``<e en="T" t="ggggeeee" n="Name">rule</e>``: the rule for one element;
- ``<k en="T" t="gggg">``: keep group gggg (``t="safeprivateelements"``: keep safe private
  elements);
- ``<r en="T" t="privategroups|unspecifiedelements|overlays|curves">``: remove rules.

``en`` other than "T" disables a rule (CTP stores it commented out). The XML is parsed with
expat, with no document type and no entity declared (no entity expansion). Anything CTP
would misread refuses the script, naming the line.
"""

from __future__ import annotations

import re
import xml.parsers.expat
from dataclasses import dataclass, field

from scandepot.deid.ctp import expressions, names
from scandepot.deid.ctp.functions import java_trim
from scandepot.deid.model import ScriptError

METHOD_CODES = 0x00120064  # (0012,0064) De-identification Method Code Sequence
REMOVE_TYPES = frozenset({"privategroups", "unspecifiedelements", "overlays", "curves"})
TAG = re.compile(r"[0-9a-fA-F]{8}")
GROUP = re.compile(r"[0-9a-fA-F]{1,4}")

# The argument positions that name an element, per function (checked at load).
ELEMENT_ARGS: dict[str, tuple[int, ...]] = {
    "contents": (0,), "value": (0,), "truncate": (0,), "hash": (0,), "hashname": (0,),
    "hashptid": (1,), "hashuid": (1, 2), "hashdate": (0, 1), "incrementdate": (0,),
    "modifydate": (0,), "initials": (0,), "round": (0,), "integer": (0,),
    "lowercase": (0,), "uppercase": (0,), "pathelement": (0,), "if": (0,),
    "require": (0,), "dateinterval": (0, 2), "lookup": (0,),
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Rule:
    tag: int
    name: str
    text: str
    nodes: tuple[expressions.Node, ...]
    line: int


@dataclass(slots=True)
class Parsed:
    params: dict[str, str] = field(default_factory=dict)
    rules: dict[int, Rule] = field(default_factory=dict)
    keep_groups: set[int] = field(default_factory=set)
    remove: set[str] = field(default_factory=set)
    keep_safe_private: bool = False
    private_names: dict[str, int] = field(default_factory=dict)
    # Rules that may create their element (@always(), and (0012,0064)): the others
    # never run on an element the instance lacks.
    creators: tuple[Rule, ...] = ()


@dataclass(slots=True)
class _Open:
    kind: str
    attrs: dict[str, str]
    line: int
    text: list[str] = field(default_factory=list)


class _Reader:
    def __init__(self) -> None:
        self.parsed = Parsed()
        self.depth = 0
        self.current: _Open | None = None
        self.parser = xml.parsers.expat.ParserCreate()
        self.parser.SetParamEntityParsing(xml.parsers.expat.XML_PARAM_ENTITY_PARSING_NEVER)
        self.parser.StartDoctypeDeclHandler = self._doctype
        self.parser.EntityDeclHandler = self._entity
        self.parser.StartElementHandler = self._start
        self.parser.EndElementHandler = self._end
        self.parser.CharacterDataHandler = self._text

    def _line(self) -> int:
        return int(self.parser.CurrentLineNumber)

    def _doctype(self, *_: object) -> None:
        raise ScriptError("a document type declaration is not allowed", line=self._line())

    def _entity(self, *_: object) -> None:
        raise ScriptError("entity declarations are not allowed", line=self._line())

    def _start(self, tag: str, attrs: dict[str, str]) -> None:
        self.depth += 1
        if self.depth == 1:
            return
        if self.depth > 2 or tag not in ("p", "e", "k", "r"):
            raise ScriptError(
                f"unknown element <{tag}>: a script holds <p>, <e>, <k> and <r>",
                line=self._line(),
            )
        self.current = _Open(tag, dict(attrs), self._line())

    def _text(self, data: str) -> None:
        if self.current is not None:
            self.current.text.append(data)

    def _end(self, tag: str) -> None:
        self.depth -= 1
        if self.current is not None and self.depth == 1:
            item, self.current = self.current, None
            _add(self.parsed, item)


def _add(parsed: Parsed, item: _Open) -> None:
    t = item.attrs.get("t", "")
    text = "".join(item.text)
    if item.kind == "p":
        parsed.params[t] = text  # DAScript keeps a parameter's text as it is
        return
    if item.attrs.get("en", "") != "T":
        return
    if item.kind == "e":
        _add_rule(parsed, item, t, java_trim(text))
    elif item.kind == "k":
        if t.startswith("safe"):
            parsed.keep_safe_private = True
        elif GROUP.fullmatch(t):
            parsed.keep_groups.add(int(t, 16))
        else:
            raise ScriptError(f"<k> names a bad group '{t}' (gggg in hex)", line=item.line)
    elif t in REMOVE_TYPES:
        parsed.remove.add(t)
    else:
        types = ", ".join(sorted(REMOVE_TYPES))
        raise ScriptError(f"unknown <r> type '{t}' (one of {types})", line=item.line)


def _add_rule(parsed: Parsed, item: _Open, t: str, text: str) -> None:
    name = item.attrs.get("n", "")
    if not TAG.fullmatch(t):
        what = name or "an element"
        raise ScriptError(f"bad tag '{t}' for {what} (ggggeeee in hex)", line=item.line)
    tag = int(t, 16)
    if tag in parsed.rules:
        first = parsed.rules[tag].line
        raise ScriptError(
            f"a second rule for ({t[:4]},{t[4:]}); the first is on line {first}", line=item.line
        )
    try:
        nodes = expressions.parse(text)
    except expressions.RuleSyntaxError as exc:
        where = f"({t[:4]},{t[4:]}) {name}".rstrip()
        raise ScriptError(f"{where}: {exc}", line=item.line) from exc
    parsed.rules[tag] = Rule(tag, name, text, nodes, item.line)
    if (tag >> 16) % 2 == 1 and name.strip():
        parsed.private_names[name.strip()] = tag


def _check_elements(parsed: Parsed) -> None:
    """Every element a function argument names must be one CTP can find."""
    for rule in parsed.rules.values():
        for call in expressions.calls(rule.nodes):
            for k in ELEMENT_ARGS.get(call.name, ()):
                if k >= len(call.args):
                    continue
                for arg in call.args[k].split("|") if call.name == "lookup" else [call.args[k]]:
                    arg = arg.strip()
                    if arg in ("", "this") or names.resolvable(arg, parsed.private_names):
                        continue
                    raise ScriptError(f"@{call.name}: unknown element '{arg}'", line=rule.line)


def parse(text: str) -> Parsed:
    """The script's parameters and enabled rules; :class:`ScriptError` naming the line."""
    reader = _Reader()
    try:
        reader.parser.Parse(text, True)
    except xml.parsers.expat.ExpatError as exc:
        message = xml.parsers.expat.ErrorString(exc.code) if exc.code else str(exc)
        raise ScriptError(f"not well-formed XML: {message}", line=exc.lineno) from exc
    if reader.depth != 0:
        raise ScriptError("not well-formed XML: unclosed element")
    parsed = reader.parsed
    _check_elements(parsed)
    parsed.creators = tuple(
        rule
        for rule in parsed.rules.values()
        if rule.text.startswith("@always()") or rule.tag == METHOD_CODES
    )
    return parsed
