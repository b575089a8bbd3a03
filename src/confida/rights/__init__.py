"""Data subject rights (GDPR Art. 15-21), each one core operation with a tracked request.

=====================  =====================================  =========================
right                  call                                   module
=====================  =====================================  =========================
access, portability    ``access_export(vault, subject, out)``  ``rights/access.py``
rectification          ``rectify(vault, subject, record, …)``  ``rights/rectification.py``
restriction            ``restrict`` / ``lift_restriction``     ``rights/restriction.py``
objection              ``object_to(vault, subject, purpose)``  ``rights/objection.py``
erasure                ``erase(vault, subject)``               ``rights/erasure.py``
erasure feed           ``erasure_feed(vault, since)``          ``rights/feed.py``
requests, deadlines    ``submit``, ``list_requests``, …        ``confida/request.py``
=====================  =====================================  =========================

Every call takes ``verified_by`` (how the host application verified the requester's identity)
and an optional host ``request_id`` that makes retries idempotent.
"""

from __future__ import annotations

from confida.request import complete, extend, list_requests, reject, submit
from confida.rights.access import AccessExport, access_export, read_export
from confida.rights.erasure import Erasure, erase, purge_retained, read_retained, set_legal_hold
from confida.rights.feed import ErasureNotice, erasure_feed
from confida.rights.objection import object_to
from confida.rights.rectification import rectify
from confida.rights.restriction import lift_restriction, restrict

__all__ = [
    "AccessExport",
    "Erasure",
    "ErasureNotice",
    "access_export",
    "complete",
    "erase",
    "erasure_feed",
    "extend",
    "lift_restriction",
    "list_requests",
    "object_to",
    "purge_retained",
    "read_export",
    "read_retained",
    "rectify",
    "reject",
    "restrict",
    "set_legal_hold",
    "submit",
]
