"""Webhooks: a signed push of erasure notices and overdue request deadlines (docs/webhooks.md).

=======================  ==============================================  ======================
what                     call                                            module
=======================  ==============================================  ======================
endpoints                ``add``, ``list_endpoints``, ``remove``          ``webhooks/endpoints.py``
backlog, dead letters    ``deliveries``, ``retry``, ``overview``          ``webhooks/endpoints.py``
push                     ``enqueue``, ``deliver_due``                     ``webhooks/delivery.py``
receivers                ``verify`` (Standard Webhooks signatures)        ``webhooks/signing.py``
=======================  ==============================================  ======================
"""

from __future__ import annotations

from confida.webhooks.delivery import Attempt, DeliveryRun, deliver_due, enqueue
from confida.webhooks.endpoints import (
    DEAD,
    DELIVERED,
    ERASURE,
    EVENTS,
    PENDING,
    REQUEST_OVERDUE,
    Delivery,
    Endpoint,
    NewEndpoint,
    Overview,
    add,
    deliveries,
    list_endpoints,
    overview,
    remove,
    retry,
)
from confida.webhooks.signing import WebhookVerificationError, verify

__all__ = [
    "DEAD",
    "DELIVERED",
    "ERASURE",
    "EVENTS",
    "PENDING",
    "REQUEST_OVERDUE",
    "Attempt",
    "Delivery",
    "DeliveryRun",
    "Endpoint",
    "NewEndpoint",
    "Overview",
    "WebhookVerificationError",
    "add",
    "deliver_due",
    "deliveries",
    "enqueue",
    "list_endpoints",
    "overview",
    "remove",
    "retry",
    "verify",
]
