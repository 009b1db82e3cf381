"""A tiny UDP DNS server on loopback, built with dnspython's message API.

Names in ``records`` get their A (IPv4) or AAAA (IPv6) records, an empty NOERROR answer
for the other type; names in ``silent`` are never answered (the resolver times out);
names in ``servfail`` get SERVFAIL; every other name gets NXDOMAIN. ``drop_all`` makes
the server answer nothing at all, a resolver that is down or firewalled.
"""

from __future__ import annotations

import ipaddress
import select
import socket
import threading
from collections.abc import Collection, Mapping, Sequence
from typing import Final

import dns.exception
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset

from tests.support.lifecycle import StartStop

_POLL: Final = 0.05
_TTL: Final = 60


def _key(name: str) -> str:
    return name.lower().rstrip(".")


class DnsServer(StartStop):
    """A UDP DNS server on ``host`` and an ephemeral ``port``, answering from a thread."""

    def __init__(
        self,
        records: Mapping[str, Sequence[str]] | None = None,
        *,
        silent: Collection[str] = (),
        servfail: Collection[str] = (),
        drop_all: bool = False,
        host: str = "127.0.0.1",
    ) -> None:
        self.records = {_key(name): list(addresses) for name, addresses in (records or {}).items()}
        self.silent = {_key(name) for name in silent}
        self.servfail = {_key(name) for name in servfail}
        self.drop_all = drop_all
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._socket.bind((host, 0))
        self.address: tuple[str, int] = self._socket.getsockname()
        self._queries: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="test-dns", daemon=True)

    @property
    def port(self) -> int:
        return self.address[1]

    @property
    def queries(self) -> list[tuple[str, str]]:
        """(name, type) of every query received, answered or not: ("x.example.test", "A")."""
        with self._lock:
            return list(self._queries)

    def start(self) -> DnsServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self._socket.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            readable, _, _ = select.select([self._socket], [], [], _POLL)
            if not readable:
                continue
            data, peer = self._socket.recvfrom(4096)
            answer = self._answer(data)
            if answer is not None:
                self._socket.sendto(answer, peer)

    def _answer(self, data: bytes) -> bytes | None:
        try:
            query = dns.message.from_wire(data)
        except dns.exception.DNSException:
            return None
        if not query.question:
            return None
        question = query.question[0]
        name = _key(question.name.to_text())
        rdtype = dns.rdatatype.to_text(question.rdtype)
        with self._lock:
            self._queries.append((name, rdtype))
        if self.drop_all or name in self.silent:
            return None
        response = dns.message.make_response(query)
        if name in self.servfail:
            response.set_rcode(dns.rcode.SERVFAIL)
        elif name not in self.records:
            response.set_rcode(dns.rcode.NXDOMAIN)
        else:
            version = 4 if rdtype == "A" else 6 if rdtype == "AAAA" else 0
            found = [a for a in self.records[name] if ipaddress.ip_address(a).version == version]
            if found:
                rrset = dns.rrset.from_text_list(question.name, _TTL, "IN", rdtype, found)
                response.answer.append(rrset)
        return response.to_wire()


__all__ = ["DnsServer"]
