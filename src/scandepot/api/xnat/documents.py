"""Single objects as XNAT's XML documents (``format=xml``): the same :class:`Item` as the
``items`` JSON, written by the XSD the site serves (``xsd/xnat.xsd``).

The XSD decides the form: a data field the type declares as an attribute becomes one
(``ID``, ``label``), any other an element, in the XSD's order; ``scanner/manufacturer``
is the ``manufacturer`` attribute of the ``scanner`` element. A child list such as
``fields/field`` becomes the wrapper element and one element per item; an item of a
declared type (a scan, the demographics) carries ``xsi:type`` and is written the same
way, an item of simple content (a custom field) is its text plus attributes.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from functools import cache

from starlette.responses import Response

from scandepot.api.xnat.items import Child, Item, Value, respond
from scandepot.api.xnat.schemas import document as xsd_document
from scandepot.errors import Invalid

XNAT = "http://nrg.wustl.edu/xnat"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
_XS = "{http://www.w3.org/2001/XMLSchema}"


@dataclass(slots=True)
class TypeInfo:
    base: str | None = None
    attributes: set[str] = field(default_factory=set)
    elements: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Schema:
    types: dict[str, TypeInfo]
    roots: dict[str, str]  # xsi type -> the document element's name

    def attributes(self, xsi_type: str) -> set[str]:
        info = self.types.get(xsi_type)
        if info is None:
            return set()
        inherited = self.attributes(info.base) if info.base else set()
        return inherited | info.attributes

    def elements(self, xsi_type: str) -> list[str]:
        info = self.types.get(xsi_type)
        if info is None:
            return []
        return (self.elements(info.base) if info.base else []) + info.elements


def _collect(node: ET.Element, info: TypeInfo) -> None:
    for child in node:
        tag = child.tag.removeprefix(_XS)
        if tag == "element" and child.get("name"):
            info.elements.append(child.get("name", ""))
        elif tag == "attribute" and child.get("name"):
            info.attributes.add(child.get("name", ""))
        elif tag == "extension":
            info.base = child.get("base")
            _collect(child, info)
        elif tag in ("sequence", "choice", "all", "complexContent", "simpleContent"):
            _collect(child, info)


@cache
def schema() -> Schema:
    root = ET.fromstring(xsd_document("xnat"))
    types: dict[str, TypeInfo] = {}
    roots: dict[str, str] = {}
    for node in root:
        if node.tag == f"{_XS}complexType" and node.get("name"):
            info = TypeInfo()
            _collect(node, info)
            types[f"xnat:{node.get('name')}"] = info
        elif node.tag == f"{_XS}element" and node.get("type"):
            roots[node.get("type", "")] = node.get("name", "")
    return Schema(types, roots)


def _text(value: Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _q(name: str) -> str:
    return f"{{{XNAT}}}{name}"


def _fill(element: ET.Element, item: Item) -> None:
    known = schema()
    attributes = known.attributes(item.xsi_type)
    simple: dict[str, Value] = {}
    nested: dict[str, dict[str, Value]] = {}
    for key, value in item.data_fields.items():
        if value is None:
            continue
        if "/" in key:
            head, tail = key.split("/", 1)
            nested.setdefault(head, {})[tail] = value
        elif key in attributes:
            element.set(key, _text(value))
        else:
            simple[key] = value
    children: dict[str, list[Child]] = {}
    for child in item.children:
        if child.items:
            children.setdefault(child.field.split("/", 1)[0], []).append(child)
    order = known.elements(item.xsi_type)
    names = [n for n in order if n in simple or n in nested or n in children]
    names += [n for n in [*simple, *nested, *children] if n not in names]
    for name in dict.fromkeys(names):
        if name in simple or name in nested:
            sub = ET.SubElement(element, _q(name))
            if name in simple:
                sub.text = _text(simple[name])
            for attribute, value in nested.get(name, {}).items():
                sub.set(attribute, _text(value))
        for child in children.get(name, []):
            _write_child(element, child)


def _write_child(parent: ET.Element, child: Child) -> None:
    head, _, inner = child.field.partition("/")
    holder = ET.SubElement(parent, _q(head)) if inner else parent
    tag = inner or head
    for item in child.items:
        sub = ET.SubElement(holder, _q(tag))
        if item.xsi_type in schema().types:
            sub.set(f"{{{XSI}}}type", item.xsi_type)
            _fill(sub, item)
            continue
        for key, value in item.data_fields.items():
            if value is None:
                continue
            if key == tag:
                sub.text = _text(value)
            else:
                sub.set(key, _text(value))


def as_xml(item: Item) -> bytes:
    ET.register_namespace("xnat", XNAT)
    ET.register_namespace("xsi", XSI)
    name = schema().roots.get(item.xsi_type, item.xsi_type.removeprefix("xnat:"))
    root = ET.Element(_q(name))
    _fill(root, item)
    written: bytes = ET.tostring(root, encoding="UTF-8", xml_declaration=True)
    return written


def respond_xml(item: Item) -> Response:
    return Response(as_xml(item), media_type="text/xml; charset=utf-8")


def answer(item: Item, fmt: str | None) -> Response:
    """One object in the format asked: ``json`` (the items shape) or ``xml``, the default
    as in XNAT."""
    chosen = (fmt or "xml").lower()
    if chosen == "json":
        return respond(item)
    if chosen == "xml":
        return respond_xml(item)
    raise Invalid(f"Unknown format '{fmt}' for one object: use json or xml.", field="format")
