"""What a CTP rule sees while it runs (CTP DICOMAnonymizerContext): the input dataset as it
was before the script (rules read original values), the output dataset being changed, the
stack of sequence items @process walks into, the parameters and the project's keys."""

from __future__ import annotations

from dataclasses import dataclass, field

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset

from scandepot.deid.ctp import names
from scandepot.deid.ctp.script import Parsed
from scandepot.deid.model import Keys, Refused


def snapshot(ds: Dataset) -> Dataset:
    """A dataset holding the same elements as ``ds``: the script replaces elements of the
    output and never changes one in place, so this keeps the input as it was."""
    for _ in ds:  # decode raw elements once, in ``ds``, so both share the decoded ones
        pass
    copy = Dataset({tag: ds[tag] for tag in ds.keys()})
    copy.set_original_encoding(ds.is_implicit_VR, ds.is_little_endian, ds.original_character_set)
    return copy


class Quarantine(Refused):
    """@quarantine(), @skip(), or a function CTP quarantines on (@lookup without a key)."""


@dataclass(slots=True)
class Context:
    parsed: Parsed
    keys: Keys
    run_params: dict[str, str]
    meta: Dataset
    in_ds: Dataset
    out_ds: Dataset
    in_stack: list[Dataset] = field(default_factory=list)
    out_stack: list[Dataset] = field(default_factory=list)

    # --- the script's switches
    @property
    def rpg(self) -> bool:
        return "privategroups" in self.parsed.remove

    @property
    def rue(self) -> bool:
        return "unspecifiedelements" in self.parsed.remove

    @property
    def rol(self) -> bool:
        return "overlays" in self.parsed.remove

    @property
    def rc(self) -> bool:
        return "curves" in self.parsed.remove

    @property
    def kspe(self) -> bool:
        return self.parsed.keep_safe_private

    # --- the item stack (@process)
    def push(self, in_item: Dataset, out_item: Dataset) -> None:
        self.in_stack.append(self.in_ds)
        self.out_stack.append(self.out_ds)
        self.in_ds, self.out_ds = in_item, out_item

    def pop(self) -> None:
        self.in_ds, self.out_ds = self.in_stack.pop(), self.out_stack.pop()

    @property
    def at_root(self) -> bool:
        return not self.in_stack

    @property
    def root(self) -> Dataset:
        return self.in_stack[0] if self.in_stack else self.in_ds

    # --- parameters
    def param(self, name: str | None) -> str | None:
        """getParam: "@NAME" (or "$NAME") is the parameter NAME, None if undefined;
        anything else is itself. A parameter the script leaves empty or does not define
        takes the run's value (PROJECT, SUBJECT, SESSION, and those the project sets)."""
        if name is None:
            return None
        name = name.strip()
        if not name.startswith(("@", "$")):
            return name
        key = name[1:]
        value = self.parsed.params.get(key)
        if value:
            return value
        return self.run_params.get(key, value)

    # --- elements
    def tag_of(self, name: str, ds: Dataset | None = None) -> int:
        """getElementTag: a keyword or hex tag, a private name from the script, or
        "gggg[creator]ee" looked up in the current dataset; 0 if none."""
        name = name.strip()
        tag = names.standard_tag(name)
        if tag == 0:
            tag = self.parsed.private_names.get(name, 0)
        if tag == 0:
            tag = names.private_tag(self.in_ds if ds is None else ds, name)
        return tag

    def element(self, tag: int, ds: Dataset | None = None) -> DataElement | None:
        source = self.meta if (tag & 0x7FFFFFFF) < 0x80000 else (ds or self.in_ds)
        return source.get(tag) if tag in source else None

    def value_of(self, tag: int) -> str | None:
        """contents(tag): the input value of ``tag`` (file meta for group 0002)."""
        return names.text(self.element(tag))

    def contents_null(self, spec: str, this_tag: int, ds: Dataset | None = None) -> str | None:
        """The input value an argument names ("this", a name, a "::" path, "root:..."),
        None if there is no such element."""
        spec = spec.strip()
        if spec == "this":
            return self.value_of(this_tag)
        ds = self.in_ds if ds is None else ds
        if spec.startswith("root:"):
            spec, ds = spec[5:].strip(), self.root
        parts = spec.split("::")
        elem: DataElement | None = None
        for k, part in enumerate(parts):
            tag = self.tag_of(part, ds)
            elem = self.element(tag, ds) if tag else None
            if elem is None:
                return None
            if k < len(parts) - 1:
                if elem.VR != "SQ" or not elem.value:
                    return None
                ds = elem.value[0]
        return names.text(elem)

    def contents(self, spec: str, this_tag: int, ds: Dataset | None = None) -> str:
        value = self.contents_null(spec, this_tag, ds)
        return "" if value is None else value

    def lookup(self, key_type: str | None, key: str | None) -> str:
        """AnonymizerFunctions.lookup over the project's pseudonym table: "TYPE/key",
        values trimmed, "@TYPE/key" values followed (at most 10 times); LookupError when
        the table is empty or the key is missing."""
        if not self.keys.lookup:
            raise LookupError("empty lookup table")
        if key is None or key_type is None:
            raise LookupError("lookup key missing")
        kind, original = key_type.strip(), key.strip()
        for _ in range(11):
            value = self.keys.pseudonym(kind, original)
            if value is None:
                raise LookupError(f"missing key ({kind}/{original}) in lookup table")
            value = value.strip()
            if not (value.startswith("@") and "/" in value):
                return value
            kind, _, original = value[1:].strip().partition("/")
        raise LookupError("more than 10 indirects")
