"""Association establishment: whether to accept an A-ASSOCIATE-RQ, and on what terms.

PS3.8 §7.1 (A-ASSOCIATE service), §9.3.2-9.3.4 (the RQ, AC and RJ PDUs) and Annex D
(user information: maximum length, implementation class UID and version name, SCP/SCU
role selection). The PDUs are decoded and encoded by pynetdicom; the decisions are ours:
the AE titles we answer to and accept calls from, storage and the query/retrieve models
of PS3.4 Annex C (Patient Root and Study Root FIND, GET and MOVE; no worklist or print),
and the sender's first transfer syntax for each context, so that the bytes are kept as
sent. Query/retrieve contexts are accepted only from a peer that may query (asked once,
and only when it proposes one); the others get "user rejection" for them. A requestor
that proposes the SCP role for a storage class (PS3.7 D.3.3.4) gets it: on that context
scandepot sends C-STORE sub-operations of a C-GET.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydicom.uid import ImplicitVRLittleEndian
from pynetdicom.pdu import A_ASSOCIATE_AC, A_ASSOCIATE_RJ, A_ASSOCIATE_RQ
from pynetdicom.pdu_primitives import (
    A_ASSOCIATE,
    ImplementationClassUIDNotification,
    ImplementationVersionNameNotification,
    MaximumLengthNotification,
    SCP_SCU_RoleSelectionNegotiation,
)
from pynetdicom.presentation import PresentationContext

from scandepot import __version__
from scandepot.dimse.models import QUERY_RETRIEVE
from scandepot.dimse.settings import DimseSettings
from scandepot.query.scope import Scope

log = logging.getLogger("scandepot.dicom")

IMPLEMENTATION_CLASS_UID = "1.2.826.0.1.3680043.8.498.10207.1"  # under pydicom's root
IMPLEMENTATION_VERSION = f"SCANDEPOT_{__version__}"[:16]
APPLICATION_CONTEXT = "1.2.840.10008.3.1.1.1"  # the DICOM application context, PS3.7 A.2.1

# Services not offered: their abstract syntaxes are refused (the query/retrieve models
# that scandepot serves are in models.QUERY_RETRIEVE and are let through before this).
_NOT_OFFERED_PREFIXES = (
    "1.2.840.10008.5.1.4.1.2.",  # other Query/Retrieve information models
    "1.2.840.10008.5.1.4.31",  # Modality Worklist
    "1.2.840.10008.3.1.2.",  # Study component management, detached management
    "1.2.840.10008.5.1.1.",  # Print management
)

# A-ASSOCIATE-RJ (result, source, reason), PS3.8 §9.3.4
_NO_APPLICATION_CONTEXT = (0x01, 0x01, 0x02)  # application context name not supported
_CALLING_AE_UNKNOWN = (0x01, 0x01, 0x03)  # calling AE title not recognised
_CALLED_AE_UNKNOWN = (0x01, 0x01, 0x07)  # called AE title not recognised
_TOO_MANY = (0x02, 0x03, 0x02)  # transient: local limit exceeded


@dataclass
class Negotiation:
    """An A-ASSOCIATE-RQ answered: the PDU to send and, when accepted, the contexts."""

    answer: bytes  # the A-ASSOCIATE-AC or -RJ
    calling_ae: str
    called_ae: str
    accepted: bool = False
    # presentation context ID -> (abstract syntax, transfer syntax)
    contexts: dict[int, tuple[str, str]] = field(default_factory=dict)
    # storage SOP classes for which the requestor took the SCP role (C-GET's C-STOREs)
    scp_roles: frozenset[str] = frozenset()
    peer_max_pdu: int = 0  # the largest PDU the requestor takes; 0: no limit
    scope: Scope | None = None  # what the peer may query and retrieve, when it may


ScopeFor = Callable[[str, str], Scope | None]  # (calling AE, address) -> its view, or None


def negotiate(
    raw: bytes,
    settings: DimseSettings,
    admit: Callable[[], bool],
    address: str,
    scope_for: ScopeFor | None = None,
) -> Negotiation:
    """Answer the A-ASSOCIATE-RQ ``raw``; ``admit`` is asked last, and only once;
    ``scope_for`` only when query/retrieve contexts are proposed."""
    rq = A_ASSOCIATE_RQ()
    rq.decode(raw)
    request = rq.to_primitive()
    calling_ae = str(request.calling_ae_title).strip()
    called_ae = str(request.called_ae_title).strip()
    refusal = _refusal(request, calling_ae, called_ae, settings, address)
    if refusal is None and not admit():
        refusal = _TOO_MANY
    if refusal is not None:
        return Negotiation(_reject(*refusal), calling_ae, called_ae)
    scope = None
    proposed = request.presentation_context_definition_list
    if scope_for is not None and any(str(c.abstract_syntax) in QUERY_RETRIEVE for c in proposed):
        scope = scope_for(calling_ae, address)
    results, contexts = _presentation_contexts(request, scope is not None)
    roles = _roles(request, {abstract for abstract, _ in contexts.values()})
    answer = _accept(request, results, settings.max_pdu, roles)
    return Negotiation(
        answer,
        calling_ae,
        called_ae,
        accepted=True,
        contexts=contexts,
        scp_roles=frozenset(str(r.sop_class_uid) for r in roles if r.scp_role),
        peer_max_pdu=_max_pdu(request),
        scope=scope,
    )


def _refusal(
    request: A_ASSOCIATE, calling_ae: str, called_ae: str, settings: DimseSettings, address: str
) -> tuple[int, int, int] | None:
    if request.application_context_name != APPLICATION_CONTEXT:
        return _NO_APPLICATION_CONTEXT
    allowed = settings.allowed_calling
    if allowed and calling_ae not in allowed:
        log.warning("refused calling AE %r from %s", calling_ae, address)
        return _CALLING_AE_UNKNOWN
    if called_ae not in settings.called_titles:
        log.warning("refused called AE %r from %s", called_ae, address)
        return _CALLED_AE_UNKNOWN
    return None


def _reject(result: int, source: int, reason: int) -> bytes:
    primitive = A_ASSOCIATE()
    primitive.result = result
    primitive.result_source = source
    primitive.diagnostic = reason
    rj = A_ASSOCIATE_RJ()
    rj.from_primitive(primitive)
    return bytes(rj.encode())


def _presentation_contexts(
    request: A_ASSOCIATE, may_query: bool
) -> tuple[list[PresentationContext], dict[int, tuple[str, str]]]:
    """Each proposed context's result (PS3.8 §9.3.3.2), and the accepted ones by ID."""
    results: list[PresentationContext] = []
    contexts: dict[int, tuple[str, str]] = {}
    for proposed in request.presentation_context_definition_list:
        answer = PresentationContext()
        answer.context_id = proposed.context_id
        answer.abstract_syntax = proposed.abstract_syntax
        abstract = str(proposed.abstract_syntax)
        offered = [str(ts) for ts in proposed.transfer_syntax]
        if abstract in QUERY_RETRIEVE and not may_query and offered:
            answer.result = 0x01  # user rejection: this peer may not query or retrieve
            answer.transfer_syntax = [offered[0]]
        elif (
            abstract.startswith(_NOT_OFFERED_PREFIXES) and abstract not in QUERY_RETRIEVE
        ) or not offered:
            answer.result = 0x03  # abstract syntax not supported
            answer.transfer_syntax = [offered[0] if offered else ImplicitVRLittleEndian]
        else:
            # Keep the bytes as sent: take the sender's first choice of transfer syntax.
            answer.result = 0x00
            answer.transfer_syntax = [offered[0]]
            contexts[int(proposed.context_id or 0)] = (abstract, offered[0])
        results.append(answer)
    return results, contexts


def _roles(request: A_ASSOCIATE, accepted: set[str]) -> list[SCP_SCU_RoleSelectionNegotiation]:
    """The role selections answered (PS3.7 D.3.3.4): for an accepted storage class, the
    roles the requestor proposed; it then may receive C-STOREs from us (C-GET)."""
    answers = []
    for item in request.user_information:
        if not isinstance(item, SCP_SCU_RoleSelectionNegotiation):
            continue
        uid = str(item.sop_class_uid)
        if uid not in accepted or uid in QUERY_RETRIEVE:
            continue
        answer = SCP_SCU_RoleSelectionNegotiation()
        answer.sop_class_uid = item.sop_class_uid
        answer.scu_role = bool(item.scu_role)
        answer.scp_role = bool(item.scp_role)
        answers.append(answer)
    return answers


def _max_pdu(request: A_ASSOCIATE) -> int:
    for item in request.user_information:
        if isinstance(item, MaximumLengthNotification):
            return int(item.maximum_length_received or 0)
    return 0


def user_information(max_pdu: int) -> list[Any]:
    """What we say of ourselves when we ask for or accept an association: the largest PDU
    we take, our implementation class UID and version name (PS3.7 D.3.3.1, D.3.3.2)."""
    max_length = MaximumLengthNotification()
    max_length.maximum_length_received = max_pdu
    impl_uid = ImplementationClassUIDNotification()
    impl_uid.implementation_class_uid = IMPLEMENTATION_CLASS_UID
    impl_name = ImplementationVersionNameNotification()
    impl_name.implementation_version_name = IMPLEMENTATION_VERSION
    return [max_length, impl_uid, impl_name]


def _accept(
    request: A_ASSOCIATE,
    results: list[PresentationContext],
    max_pdu: int,
    roles: list[SCP_SCU_RoleSelectionNegotiation],
) -> bytes:
    """The A-ASSOCIATE-AC, with our user information (PS3.7 D.3.3.1, D.3.3.2)."""
    max_length, impl_uid, impl_name = user_information(max_pdu)
    accept = A_ASSOCIATE()
    accept.application_context_name = APPLICATION_CONTEXT
    accept.calling_ae_title = request.calling_ae_title
    accept.called_ae_title = request.called_ae_title
    accept.result = 0x00
    accept.result_source = 0x01
    accept.presentation_context_definition_results_list = results
    accept.user_information = [max_length, impl_uid, *roles, impl_name]
    ac = A_ASSOCIATE_AC()
    ac.from_primitive(accept)
    return bytes(ac.encode())
