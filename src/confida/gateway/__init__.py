"""The privacy gateway: an OpenAI-compatible proxy that lets no personal value leave unscanned.

The core (this package: no HTTP framework) decides and scrubs each call
(:func:`~confida.gateway.core.prepare_call`), restores answers whole or streamed
(:mod:`~confida.gateway.restore`, :mod:`~confida.gateway.stream`) and stores the answer
(:func:`~confida.gateway.core.finish_call`). The HTTP adapter is
:mod:`confida.server.gateway_api`; the command is ``confida gateway`` (docs/gateway.md).
"""

from confida.gateway.core import (
    CallRequest,
    GatewayUnavailable,
    PreparedCall,
    SecretInPrompt,
    UpstreamUnavailable,
    call_request,
    egress_action,
    finish_call,
    prepare_call,
)
from confida.gateway.restore import StreamRestorer, restore, restore_json

__all__ = [
    "CallRequest",
    "GatewayUnavailable",
    "PreparedCall",
    "SecretInPrompt",
    "StreamRestorer",
    "UpstreamUnavailable",
    "call_request",
    "egress_action",
    "finish_call",
    "prepare_call",
    "restore",
    "restore_json",
]
