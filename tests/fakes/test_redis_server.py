"""The test servers' ports: a port the kernel may hand to an outgoing connection, or one a
cluster drew twice, fails a test at random (a node that cannot bind its port)."""

from __future__ import annotations

import socket

from tests.fakes.redis_server import _ephemeral_low, free_port


def test_free_ports_are_distinct_and_outside_the_ephemeral_range() -> None:
    ports = [free_port() for _ in range(300)]
    assert len(set(ports)) == len(ports)
    assert all(1024 <= p < _ephemeral_low() for p in ports)


def test_a_port_in_use_is_not_handed_out() -> None:
    high = _ephemeral_low()
    held: dict[int, socket.socket] = {}
    try:
        for port in range(max(1024, high - 20000), high, 40):  # one port in 40
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                s.close()
                continue
            s.listen()
            held[port] = s
        drawn = [free_port() for _ in range(400)]  # about 10 would hit a held one
        assert not set(drawn) & set(held)
    finally:
        for s in held.values():
            s.close()
