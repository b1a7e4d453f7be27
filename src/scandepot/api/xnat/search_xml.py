"""XNAT's ``xdat:search`` document (what pyxnat's ``select(...).where(...)`` and xnatpy's
``query()`` post to ``/data/search``), read into a :class:`scandepot.search.criteria.Search`.

The document comes from the caller, so it is read with expat and nothing more: a
``DOCTYPE`` (and with it every entity declaration, the billion laughs and external
entities) is refused before anything is expanded. Elements are matched by their local
name in XNAT's security namespace (``http://nrg.wustl.edu/security``); the root may be
``bundle`` (pyxnat, xnatpy) or ``search`` (XNAT's own stored searches).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from xml.parsers import expat

from scandepot.errors import BadRequest
from scandepot.search.criteria import (
    CriteriaSet,
    Criterion,
    FieldRef,
    Search,
    comparison,
    method,
)

XDAT = "http://nrg.wustl.edu/security"
ROOTS = ("bundle", "search")
MAX_DEPTH = 64  # nested child sets; a deeper document is no search anyone writes


@dataclass(slots=True)
class Node:
    name: str  # the local name, in XDAT's namespace; "{uri}name" in another
    attributes: dict[str, str]
    children: list[Node] = field(default_factory=list)
    text: str = ""

    def all(self, name: str) -> list[Node]:
        return [c for c in self.children if c.name == name]

    def one(self, name: str) -> str | None:
        found = self.all(name)
        return found[0].text.strip() if found else None


class _Refused(Exception):
    pass


def _local(name: str) -> str:
    uri, _, local = name.rpartition("}")
    if not uri or uri == XDAT:
        return local
    return name


def parse_tree(body: bytes) -> Node:
    """The document's elements as nodes; 400 for anything that is not well-formed XML,
    or that declares a document type."""
    parser = expat.ParserCreate(namespace_separator="}")
    stack: list[Node] = []
    root: list[Node] = []

    def start(name: str, attributes: dict[str, str]) -> None:
        if len(stack) > MAX_DEPTH:
            raise _Refused(f"The search document nests deeper than {MAX_DEPTH} levels.")
        node = Node(_local(name), {_local(k): v for k, v in attributes.items()})
        (stack[-1].children if stack else root).append(node)
        stack.append(node)

    def end(name: str) -> None:
        stack.pop()

    def data(text: str) -> None:
        if stack:
            stack[-1].text += text

    def doctype(*args: object) -> None:
        raise _Refused("A document type declaration is not accepted in a search document.")

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = data
    parser.StartDoctypeDeclHandler = doctype
    parser.EntityDeclHandler = doctype
    try:
        parser.Parse(body, True)
    except _Refused as refused:
        raise BadRequest(str(refused), field="body") from None
    except expat.ExpatError as error:
        raise BadRequest(f"Malformed search XML: {error}.", field="body") from None
    return root[0]


def parse(body: bytes) -> Search:
    """The search ``body`` describes; 400 naming what is missing or malformed."""
    if not body.strip():
        raise BadRequest("Send an xdat:search document in the request body.", field="body")
    top = parse_tree(body)
    if top.name not in ROOTS:
        raise BadRequest(
            f"The search document's root is '{top.name}', not xdat:bundle or xdat:search.",
            field="body",
        )
    root = top.one("root_element_name")
    if not root:
        raise BadRequest("The search document names no root_element_name.", field="body")
    columns = tuple(_search_field(node) for node in _by_sequence(top.all("search_field")))
    wheres = top.all("search_where")
    where = CriteriaSet(items=tuple(_criteria_set(w) for w in wheres))
    return Search(root, columns, where)


def _by_sequence(nodes: list[Node]) -> list[Node]:
    def sequence(node: Node) -> int:
        text = node.one("sequence") or ""
        return int(text) if text.isdigit() else 0

    return sorted(nodes, key=sequence)


def _search_field(node: Node) -> FieldRef:
    element = node.one("element_name")
    field_id = node.one("field_ID")
    if not element or not field_id:
        raise BadRequest("A search_field needs element_name and field_ID.", field="search_field")
    if "/" in field_id and ":" in field_id.split("/", 1)[0]:
        return FieldRef.parse(field_id)
    return FieldRef(element, field_id)


def _criteria_set(node: Node) -> CriteriaSet:
    items: list[Criterion | CriteriaSet] = []
    for child in node.children:
        if child.name == "criteria":
            items.append(_criterion(child))
        elif child.name == "child_set":
            items.append(_criteria_set(child))
    return CriteriaSet(method(node.attributes.get("method")), tuple(items))


def _criterion(node: Node) -> Criterion:
    schema_field = node.one("schema_field")
    if not schema_field:
        raise BadRequest("A criteria element needs a schema_field.", field="schema_field")
    value = node.one("value") or ""
    return Criterion(
        FieldRef.parse(schema_field), comparison(node.one("comparison_type"), value), value
    )
