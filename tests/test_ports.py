"""Ports for the stack's servers: free, never the kernel's ephemeral choice, never twice."""

from __future__ import annotations

import socket

import pytest

from runner import process


def test_ports_come_from_outside_the_kernels_ephemeral_range_and_never_twice() -> None:
    low, high = process._kernel_range()
    band = process.unclaimed_band()
    assert band is not None, "the default range (32768-60999) leaves room below it"
    ports = [process.free_port() for _ in range(300)]
    assert len(set(ports)) == len(ports)
    assert all(band[0] <= p <= band[1] for p in ports)
    assert not [p for p in ports if low <= p <= high]
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", ports[-1]))  # and it is really free: it binds


def test_a_port_something_listens_on_is_passed_over(monkeypatch: pytest.MonkeyPatch) -> None:
    band = process.unclaimed_band()
    assert band is not None
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        for port in range(band[0], band[1]):
            if port in process._handed_out:
                continue
            try:
                busy.bind(("127.0.0.1", port))
            except OSError:
                continue
            break
        busy.listen()
        taken = busy.getsockname()[1]
        offered = iter([taken, taken, taken + 1 if taken < band[1] else taken - 1])
        monkeypatch.setattr(process.random, "randint", lambda a, b: next(offered))
        got = process.free_port()
    assert got != taken
    assert abs(got - taken) == 1


def test_with_no_room_outside_the_range_the_kernel_chooses_still_never_twice(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(process, "_kernel_range", lambda: (1024, 65535))
    assert process.unclaimed_band() is None
    ports = [process.free_port() for _ in range(50)]
    assert len(set(ports)) == len(ports)
    assert all(1024 <= p <= 65535 for p in ports)


@pytest.mark.parametrize(("kernel", "band"), [
    ((32768, 60999), (20768, 32767)),
    ((10000, 50000), (50001, 62000)),
    ((10000, 60000), None),
])
def test_the_band_sits_below_the_range_or_else_above_it(
    monkeypatch: pytest.MonkeyPatch, kernel: tuple[int, int], band: tuple[int, int] | None,
) -> None:
    monkeypatch.setattr(process, "_kernel_range", lambda: kernel)
    assert process.unclaimed_band() == band
