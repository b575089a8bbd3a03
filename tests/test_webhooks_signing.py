"""Standard Webhooks signatures (confida.webhooks.signing), checked by property.

Sign then verify round-trips; changing any byte of the body, the id, the timestamp or the
signature is refused; a stale or future timestamp is refused; and the reference implementation
(the ``standardwebhooks`` package, when installed) accepts what we sign and we accept what it
signs.
"""

from __future__ import annotations

import base64
import string
from datetime import UTC, datetime

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from confida.webhooks import signing
from confida.webhooks.signing import WebhookVerificationError, verify

secrets_ = st.binary(min_size=1, max_size=64)
ids = st.text(alphabet=string.ascii_letters + string.digits + "_-.:", min_size=1, max_size=40)
stamps = st.integers(min_value=1_000_000_000, max_value=4_000_000_000)
bodies = st.binary(max_size=400)
PRINTABLE = string.printable.strip() + " "


def _at(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def _refused(secret: bytes | str, headers: dict[str, str], body: bytes, now: float) -> bool:
    try:
        verify(secret, headers, body, now=_at(now))
    except WebhookVerificationError:
        return True
    return False


@given(secrets_, ids, stamps, bodies)
def test_round_trip(secret: bytes, msg_id: str, ts: int, body: bytes) -> None:
    headers = signing.sign(secret, msg_id, ts, body)
    verify(secret, headers, body, now=_at(ts))
    verify(signing.encode_secret(secret), headers, body, now=_at(ts + 299))
    upper = {k.upper(): v for k, v in headers.items()}  # header names in any case
    verify(secret, upper, body, now=_at(ts - 299))


@given(secrets_, ids, stamps, bodies.filter(bool), st.data())
def test_a_changed_body_byte_is_refused(secret, msg_id, ts, body, data) -> None:  # type: ignore[no-untyped-def]
    headers = signing.sign(secret, msg_id, ts, body)
    i = data.draw(st.integers(0, len(body) - 1))
    flip = data.draw(st.integers(1, 255))
    changed = body[:i] + bytes([body[i] ^ flip]) + body[i + 1:]
    assert _refused(secret, headers, changed, ts)


@given(secrets_, ids, stamps, bodies, st.data())
def test_a_changed_id_is_refused(secret, msg_id, ts, body, data) -> None:  # type: ignore[no-untyped-def]
    headers = signing.sign(secret, msg_id, ts, body)
    i = data.draw(st.integers(0, len(msg_id) - 1))
    c = data.draw(st.sampled_from(PRINTABLE.strip()))
    assume(c != msg_id[i])
    headers["webhook-id"] = msg_id[:i] + c + msg_id[i + 1:]
    assert _refused(secret, headers, body, ts)


@given(secrets_, ids, stamps, bodies, st.data())
def test_a_changed_timestamp_byte_is_refused(secret, msg_id, ts, body, data) -> None:  # type: ignore[no-untyped-def]
    headers = signing.sign(secret, msg_id, ts, body)
    stamp = headers["webhook-timestamp"]
    i = data.draw(st.integers(0, len(stamp) - 1))
    c = data.draw(st.sampled_from(PRINTABLE))
    assume(c != stamp[i])
    headers["webhook-timestamp"] = stamp[:i] + c + stamp[i + 1:]
    assert _refused(secret, headers, body, ts)


@given(secrets_, ids, stamps, bodies, st.integers(-300, 300).filter(bool))
def test_a_shifted_timestamp_within_tolerance_is_refused(secret, msg_id, ts, body, d) -> None:  # type: ignore[no-untyped-def]
    headers = signing.sign(secret, msg_id, ts, body)
    headers["webhook-timestamp"] = str(ts + d)
    assert _refused(secret, headers, body, ts)


@given(secrets_, ids, stamps, bodies, st.data())
def test_a_changed_signature_byte_is_refused(secret, msg_id, ts, body, data) -> None:  # type: ignore[no-untyped-def]
    headers = signing.sign(secret, msg_id, ts, body)
    sig = headers["webhook-signature"]
    i = data.draw(st.integers(0, len(sig) - 1))
    c = data.draw(st.sampled_from(PRINTABLE))
    assume(c != sig[i])
    headers["webhook-signature"] = sig[:i] + c + sig[i + 1:]
    assert _refused(secret, headers, body, ts)


@given(secrets_, secrets_, ids, stamps, bodies)
def test_another_secret_is_refused(secret, other, msg_id, ts, body) -> None:  # type: ignore[no-untyped-def]
    assume(secret != other)
    assert _refused(other, signing.sign(secret, msg_id, ts, body), body, ts)


@given(secrets_, ids, stamps, bodies, st.integers(301, 10**8), st.booleans())
def test_a_stale_or_future_timestamp_is_refused(secret, msg_id, ts, body, late, future) -> None:  # type: ignore[no-untyped-def]
    headers = signing.sign(secret, msg_id, ts, body)
    assert _refused(secret, headers, body, ts - late if future else ts + late)


def test_one_of_several_signatures_may_match_and_headers_are_required() -> None:
    secret, body = b"k" * 32, b'{"type":"erasure"}'
    h = signing.sign(secret, "msg_1", 1_700_000_000, body)
    other = signing.signature(b"old-secret", "msg_1", 1_700_000_000, body)
    h["webhook-signature"] = f"{other} {h['webhook-signature']}"
    verify(secret, h, body, now=_at(1_700_000_000))
    verify(secret, h, body.decode(), now=_at(1_700_000_000))  # a str body is its UTF-8
    for name in ("webhook-id", "webhook-timestamp", "webhook-signature"):
        assert _refused(secret, {k: v for k, v in h.items() if k != name}, body, 1_700_000_000)
    for bad in ("", "whsec_", "whsec_not base64!"):
        with pytest.raises(WebhookVerificationError):
            verify(bad, h, body, now=_at(1_700_000_000))


def test_a_known_vector() -> None:
    """The example of the Standard Webhooks specification."""
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    msg_id, ts = "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330
    body = '{"test": 2432232314}'
    expected = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    assert signing.signature(signing.decode_secret(secret), msg_id, ts, body) == expected
    verify(secret, {"webhook-id": msg_id, "webhook-timestamp": str(ts),
                    "webhook-signature": expected}, body, now=_at(ts))


def test_interoperates_with_the_standardwebhooks_package() -> None:
    sw = pytest.importorskip("standardwebhooks")
    secret = signing.encode_secret(signing.new_secret())
    body = '{"data":{"notice_id":7},"timestamp":"2026-12-01T00:00:00.000000Z","type":"erasure"}'
    now = datetime.now(UTC)
    ours = signing.sign(signing.decode_secret(secret), "msg_abc", int(now.timestamp()),
                        body.encode())
    assert sw.Webhook(secret).verify(body, ours) == {"data": {"notice_id": 7},
                                                     "timestamp": "2026-12-01T00:00:00.000000Z",
                                                     "type": "erasure"}
    theirs = {"webhook-id": "msg_abc", "webhook-timestamp": str(int(now.timestamp())),
              "webhook-signature": sw.Webhook(secret).sign("msg_abc", now, body)}
    verify(secret, theirs, body)
    assert base64.b64decode(theirs["webhook-signature"][3:]) == base64.b64decode(
        ours["webhook-signature"][3:])
