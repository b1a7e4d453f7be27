"""The catalogue for harvesters: DCAT-AP 3 and schema.org Dataset, as JSON-LD
(docs/catalogue.md#feeds).

- :func:`dcat_catalogue`: a ``dcat:Catalog`` of the published versions, a page at a
  time, paged with Hydra as ckanext-dcat's harvester reads it (``hydra:PagedCollection``,
  ``hydra:nextPage``, ``hydra:totalItems``).
- :func:`dcat_dataset`: one version as a ``dcat:Dataset`` (DCAT-AP 3: ``dct:title``,
  ``dct:description``, ``dcat:keyword``, ``dcat:version``, ``dcat:isVersionOf``,
  ``dcat:landingPage``, ``dct:accessRights`` restricted, a ``dcat:Distribution`` whose
  ``dcat:accessURL`` is the page where access is asked for).
- :func:`schema_org`: one version as a schema.org ``Dataset`` (Google's Dataset Search
  reads it from the version's page, where it is embedded too).

Every address is absolute, under the site's ``public_url``; each version's IRI is its
stable page address, ``/datasets/{ID}/v{n}``. Only metadata and aggregate facts (the
modalities, the clinical variables' names) appear: nothing of an individual.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from scandepot.access.actors import Actor
from scandepot.catalog.paging import PageRequest
from scandepot.context import Context
from scandepot.datasets import catalogue, search_terms
from scandepot.datasets.catalogue import Entry, PublicVersion, Search
from scandepot.errors import Invalid

PER_PAGE = 100
RESTRICTED = "http://publications.europa.eu/resource/authority/access-right/RESTRICTED"
DCAT_AP = "http://data.europa.eu/r5r/"
CONTEXT = {
    "dcat": "http://www.w3.org/ns/dcat#",
    "dct": "http://purl.org/dc/terms/",
    "foaf": "http://xmlns.com/foaf/0.1/",
    "vcard": "http://www.w3.org/2006/vcard/ns#",
    "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "hydra": "http://www.w3.org/ns/hydra/core#",
}
ACCESS_NOTE = (
    "Aggregated metadata only. The files are read by users whose access request the "
    "dataset's owners approve."
)


def page_url(ctx: Context, stable_id: str, number: int | None = None) -> str:
    """The stable address of a version's page (or the dataset's, for its latest)."""
    base = f"{ctx.settings.public_url.rstrip('/')}/datasets/{stable_id}"
    return base if number is None else f"{base}/v{number}"


def dcat_catalogue(ctx: Context, actor: Actor, *, page: int) -> dict[str, Any]:
    """Page ``page`` (from 1) of the catalogue as a DCAT-AP ``dcat:Catalog``."""
    if page < 1:
        raise Invalid("page counts from 1.", field="page")
    site = ctx.settings.public_url.rstrip("/")
    found = catalogue.search(
        ctx, actor, Search(), PageRequest(limit=PER_PAGE, offset=(page - 1) * PER_PAGE)
    )
    feed = f"{site}/api/v1/catalogue/feeds/dcat"
    last = max(1, -(-found.total // PER_PAGE))
    datasets = [_dcat_entry(ctx, entry) for entry in found.items]
    paging: dict[str, Any] = {
        "@id": f"{feed}?page={page}",
        "@type": "hydra:PagedCollection",
        "hydra:totalItems": found.total,
        "hydra:itemsPerPage": PER_PAGE,
        "hydra:firstPage": f"{feed}?page=1",
        "hydra:lastPage": f"{feed}?page={last}",
    }
    if page < last:
        paging["hydra:nextPage"] = f"{feed}?page={page + 1}"
    if page > 1:
        paging["hydra:previousPage"] = f"{feed}?page={page - 1}"
    return {
        "@context": CONTEXT,
        "@graph": [
            {
                "@id": feed,
                "@type": "dcat:Catalog",
                "dct:title": "scandepot dataset catalogue",
                "dct:description": "The published datasets of this archive: descriptive "
                "metadata and aggregates only.",
                "dct:publisher": _publisher(ctx),
                "foaf:homepage": {"@id": f"{site}/datasets"},
                "dct:conformsTo": {"@id": DCAT_AP},
                "dcat:dataset": datasets,
            },
            paging,
        ],
    }


def _dcat_entry(ctx: Context, entry: Entry) -> dict[str, Any]:
    iri = page_url(ctx, entry.stable_id, entry.number)
    node: dict[str, Any] = {
        "@id": iri,
        "@type": "dcat:Dataset",
        "dct:identifier": f"{entry.stable_id}/v{entry.number}",
        "dct:title": entry.title,
        "dct:description": entry.description or entry.title,
        "dcat:keyword": entry.keywords,
        "dcat:version": str(entry.number),
        "dcat:isVersionOf": {"@id": page_url(ctx, entry.stable_id)},
        "dcat:landingPage": {"@id": iri},
        "dct:accessRights": {"@id": RESTRICTED},
        "dcat:distribution": [_distribution(iri)],
    }
    if entry.published_at is not None:
        node["dct:issued"] = _when(entry.published_at)
    return node


def dcat_dataset(ctx: Context, view: PublicVersion) -> dict[str, Any]:
    """One version as a DCAT-AP ``dcat:Dataset``, with the metadata its page shows."""
    meta = view.meta
    iri = page_url(ctx, view.stable_id, view.number)
    node: dict[str, Any] = {
        "@context": CONTEXT,
        "@id": iri,
        "@type": "dcat:Dataset",
        "dct:identifier": f"{view.stable_id}/v{view.number}",
        "dct:title": _title(view),
        "dct:description": str(meta.get("description") or _title(view)),
        "dcat:keyword": _strings(meta.get("keywords")),
        "dcat:version": str(view.number),
        "dcat:isVersionOf": {"@id": page_url(ctx, view.stable_id)},
        "dcat:landingPage": {"@id": iri},
        "dct:publisher": _publisher(ctx),
        "dct:accessRights": {"@id": RESTRICTED},
        "dct:creator": [{"@type": "foaf:Agent", "foaf:name": n} for n in _names(meta)],
        "dcat:distribution": [] if view.withdrawn else [_distribution(iri)],
    }
    if view.published_at is not None:
        node["dct:issued"] = _when(view.published_at)
    contact = _contact(meta.get("contact"))
    if contact:
        node["dcat:contactPoint"] = contact
    licence = meta.get("licence") or meta.get("license")
    if isinstance(licence, str) and licence:
        node["dct:license"] = _licence(licence)
    provenance = meta.get("provenance")
    if isinstance(provenance, str) and provenance:
        node["dct:provenance"] = {"@type": "dct:ProvenanceStatement", "rdfs:label": provenance}
    if view.withdrawn:
        node["adms:status"] = {"@id": "http://purl.org/adms/status/Withdrawn"}
        node["@context"] = {**CONTEXT, "adms": "http://www.w3.org/ns/adms#"}
    return node


def schema_org(ctx: Context, view: PublicVersion) -> dict[str, Any]:
    """One version as a schema.org ``Dataset``."""
    meta = view.meta
    site = ctx.settings.public_url.rstrip("/")
    iri = page_url(ctx, view.stable_id, view.number)
    aggregates = view.aggregates or {}
    node: dict[str, Any] = {
        # Inline, so that a reader needs no fetch of the remote context to expand it.
        "@context": {"@vocab": "https://schema.org/"},
        "@type": "Dataset",
        "@id": iri,
        "url": iri,
        "name": _title(view),
        "description": str(meta.get("description") or _title(view)),
        "identifier": f"{view.stable_id}/v{view.number}",
        "version": str(view.number),
        "keywords": _strings(meta.get("keywords")),
        "creator": [{"@type": "Person", "name": n} for n in _names(meta)],
        "isAccessibleForFree": False,
        "conditionsOfAccess": ACCESS_NOTE,
        "includedInDataCatalog": {
            "@type": "DataCatalog",
            "name": "scandepot dataset catalogue",
            "url": f"{site}/datasets",
        },
        "measurementTechnique": search_terms.values(aggregates, "modalities"),
        "variableMeasured": [c.get("title") or c["name"] for c in aggregates.get("clinical") or []],
    }
    if view.published_at is not None:
        node["datePublished"] = view.published_at.date().isoformat()
    licence = meta.get("licence") or meta.get("license")
    if isinstance(licence, str) and licence:
        node["license"] = licence
    return node


def _distribution(iri: str) -> dict[str, Any]:
    return {
        "@type": "dcat:Distribution",
        "dct:title": "Access on request",
        "dct:description": ACCESS_NOTE,
        "dcat:accessURL": {"@id": iri},
        "dct:accessRights": {"@id": RESTRICTED},
    }


def _publisher(ctx: Context) -> dict[str, Any]:
    return {
        "@id": ctx.settings.public_url.rstrip("/"),
        "@type": "foaf:Agent",
        "foaf:name": f"scandepot at {ctx.settings.public_url.rstrip('/')}",
    }


def _title(view: PublicVersion) -> str:
    return str(view.meta.get("title") or view.name)


def _when(value: datetime) -> dict[str, str]:
    return {"@value": value.isoformat(), "@type": "xsd:dateTime"}


def _strings(value: Any) -> list[str]:
    return [str(v) for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _names(meta: dict[str, Any]) -> list[str]:
    """The authors' names: strings, or objects with a ``name``."""
    names = []
    for author in meta.get("authors") or []:
        if isinstance(author, str):
            names.append(author)
        elif isinstance(author, dict) and isinstance(author.get("name"), str):
            names.append(author["name"])
    return names


def _contact(value: Any) -> dict[str, Any] | None:
    """A ``vcard:Kind`` from a contact given as an address, a name, or an object."""
    name = email = None
    if isinstance(value, dict):
        name, email = value.get("name"), value.get("email")
    elif isinstance(value, str) and value:
        email, name = (value, None) if "@" in value else (None, value)
    if not name and not email:
        return None
    kind: dict[str, Any] = {"@type": "vcard:Kind", "vcard:fn": str(name or email)}
    if email:
        kind["vcard:hasEmail"] = {"@id": f"mailto:{email}"}
    return kind


def _licence(value: str) -> dict[str, Any]:
    if value.startswith(("http://", "https://")):
        return {"@id": value, "@type": "dct:LicenseDocument"}
    return {"@type": "dct:LicenseDocument", "rdfs:label": value}
