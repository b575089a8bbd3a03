"""Detection time grows linearly with input size, whatever the input is built to provoke.

Absolute times depend on the machine, so the test compares the CPU time for n and 2n
characters of the same adversarial shape (best of five, alternating): a ratio near 2 is
linear, near 4 quadratic.
"""

from __future__ import annotations

import random
import time

import pytest

from confida.pii import detect

SIZE = 50_000  # characters at 1x (grown until a run is long enough to time); 2x doubles it
MIN_SECONDS = 0.03
MAX_SIZE = 1_600_000


def _cpu(text: str) -> float:
    """CPU seconds of one detection (process time: other jobs on the machine do not count)."""
    t0 = time.process_time()
    detect(text)
    return time.process_time() - t0


def _best_pair(small: str, large: str, rounds: int = 5) -> tuple[float, float]:
    """Best times of the two sizes, measured alternately so that load hits both alike."""
    t1 = t2 = float("inf")
    for _ in range(rounds):
        t1 = min(t1, _cpu(small))
        t2 = min(t2, _cpu(large))
    return t1, t2


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
    size = SIZE
    detect(make(1000))
    while size < MAX_SIZE and _cpu(make(size)) < MIN_SECONDS:
        size *= 2
    t1, t2 = _best_pair(make(size), make(2 * size))
    # Generous slack for a shared machine; quadratic growth would give about 4.
    assert t2 / max(t1, 1e-4) < 3.5, (shape, size, t1, t2)


@pytest.mark.slow
def test_big_inputs_finish() -> None:
    """10 MB of ordinary text and 1 MB of each adversarial shape complete (no time-out)."""
    text = ("Hello Anna, my IBAN is DE89 3704 0044 0532 0130 00. " * 200_000)[:10_000_000]
    t0 = time.process_time()
    found = detect(text)
    assert found
    assert time.process_time() - t0 < 300
    for shape in ("email_dots", "digit_run", "spaced_digits", "ipv6_colons", "garbage"):
        t0 = time.process_time()
        detect(SHAPES[shape](1_000_000))
        assert time.process_time() - t0 < 120, shape
