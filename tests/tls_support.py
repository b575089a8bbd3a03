"""One real TLS handshake over loopback, for the tests of the server's TLS floor."""

from __future__ import annotations

import socket
import ssl
import threading


def handshake(server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext) -> str | None:
    """One real TLS handshake over loopback; the negotiated version, or None if refused."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()

    def serve_once() -> None:
        conn, _ = listener.accept()
        try:
            server_ctx.wrap_socket(conn, server_side=True).close()
        except (ssl.SSLError, OSError):
            conn.close()

    t = threading.Thread(target=serve_once, daemon=True)
    t.start()
    try:
        with socket.create_connection(listener.getsockname(), timeout=10) as raw:
            try:
                with client_ctx.wrap_socket(raw, server_hostname="localhost") as tls:
                    return tls.version()
            except (ssl.SSLError, ConnectionResetError, OSError):
                return None
    finally:
        t.join(5)
        listener.close()
