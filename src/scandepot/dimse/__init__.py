"""The DICOM receiver: a C-STORE and C-ECHO service class provider (PS3.4 B, A.4).

Its modules follow the layers of the standard, as pynetdicom's do:

- ``pdu``: the upper layer's PDUs read from and written to the socket (PS3.8 §9);
- ``acse``: association establishment, what is accepted and on what terms (PS3.8 §7.1);
- ``association``: one association's life on its thread, from request to release;
- ``service``: the DIMSE-C messages, C-ECHO and C-STORE over P-DATA (PS3.7 §9), and the
  ``StoreHandler`` interface an instance is given to;
- ``commands``: command sets and File Meta Information, encoded by hand (PS3.7 Annex E);
- ``store_handler``: ours, filing each instance into the prearchive through ingest;
- ``receiver``: the listening socket, a thread per association, further processes.

The data phase is a lean loop of our own: blocking reads, P-DATA fragments streamed
straight into a staged file that already holds the File Meta Information, the instance
filed (durable on disk and in the catalog), and only then the C-STORE response. No
decode of the data set, no queues, no polling. Negotiation uses pynetdicom's PDU code.
"""

from __future__ import annotations

from scandepot.dimse.receiver import Receiver
from scandepot.dimse.settings import DimseSettings
from scandepot.dimse.store_handler import HEAD_BYTES

__all__ = ["HEAD_BYTES", "DimseSettings", "Receiver"]
