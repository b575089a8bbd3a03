"""Detection time grows linearly with input size, whatever the input is built to provoke.

Absolute times depend on the machine, so the test compares the time for n and 2n characters
of the same adversarial shape (best of three): a ratio near 2 is linear, near 4 quadratic.
"""

from __future__ import annotations

import random
import time

import pytest

from confida.pii import detect

SIZE = 50_000  # characters at 1x; the 2x run doubles it


def _best(text: str) -> float:
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        detect(text)
        best = min(best, time.perf_counter() - t0)
    return best


def _garbage(n: int) -> str:
    rnd = random.Random(1)
    return "".join(chr(rnd.randrange(0, 0x3000)) for _ in range(n))


SHAPES = {
    "email_dots": lambda n: ("a@" + "a." * n)[:n],
    "digit_run": lambda n: "1" * n,
    "spaced_digits": lambda n: ("12 " * n)[:n],
    "capitalised": lambda n: ("Anna " * n)[:n],
    "iban_like": lambda n: ("DE89 " * n)[:n],
    "url": lambda n: ("http://" + "a/" * n)[:n],
    "ipv6_colons": lambda n: ("1:" * n)[:n],
    "pem_headers": lambda n: ("-----BEGIN PRIVATE KEY-----\n" * n)[:n],
    "garbage": _garbage,
    "surrogates": lambda n: ("\ud800a@" * n)[:n],
}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_time_grows_linearly(shape: str) -> None:
    make = SHAPES[shape]
    small, large = make(SIZE), make(2 * SIZE)
    detect(small[:1000])
    t1, t2 = _best(small), _best(large)
    # Generous slack for a shared machine; quadratic growth would give about 4.
    assert t2 / max(t1, 1e-4) < 3.5, (shape, t1, t2)


@pytest.mark.slow
def test_ten_megabytes_finishes() -> None:
    text = ("Hello Anna, my IBAN is DE89 3704 0044 0532 0130 00. " * 200_000)[:10_000_000]
    t0 = time.perf_counter()
    found = detect(text)
    assert found
    assert time.perf_counter() - t0 < 300
