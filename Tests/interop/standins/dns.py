"""Loopback DNS stand-in: UDP (and TCP) on 127.0.0.1, one free port, answering TXT queries from
`records` (name → list of strings, e.g. `_atproto.alice.example.com` → ["did=did:plc:…"]) and NXDOMAIN
for every other name. Every query is recorded in `queries`."""

import socket
import socketserver
import struct
import threading

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

TTL = 60


def _normalize(name):
    return str(name).lower().rstrip(".")


class DnsServer:
    name = "dns"

    def __init__(self):
        self.records = {}
        self.queries = []  # [{name, type, transport}]
        self.failures = []
        self.lock = threading.Lock()
        self._udp = None
        self._tcp = None
        self._threads = []
        self._stopping = threading.Event()

    # --- records -------------------------------------------------------------------------------

    def set_txt(self, name, *values):
        with self.lock:
            self.records[_normalize(name)] = list(values)

    def remove(self, name):
        with self.lock:
            self.records.pop(_normalize(name), None)

    def queried(self, name):
        name = _normalize(name)
        with self.lock:
            return [query for query in self.queries if query["name"] == name]

    # --- protocol ------------------------------------------------------------------------------

    def answer(self, wire, transport):
        try:
            query = dns.message.from_wire(wire)
        except Exception as exc:  # noqa: BLE001 - a malformed query is a failure of the sender
            with self.lock:
                self.failures.append(f"[dns] malformed query over {transport}: {exc}")
            return None
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        for question in query.question:
            name = _normalize(question.name)
            with self.lock:
                self.queries.append({"name": name, "type": dns.rdatatype.to_text(question.rdtype),
                                     "transport": transport})
                values = self.records.get(name)
            if values is None:
                response.set_rcode(dns.rcode.NXDOMAIN)
                continue
            if question.rdtype in (dns.rdatatype.TXT, dns.rdatatype.ANY):
                quoted = ['"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"' for value in values]
                response.answer.append(dns.rrset.from_text(question.name, TTL, dns.rdataclass.IN,
                                                           dns.rdatatype.TXT, *quoted))
        return response.to_wire()

    # --- servers -------------------------------------------------------------------------------

    def start(self):
        for _ in range(20):
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            udp.bind(("127.0.0.1", 0))
            port = udp.getsockname()[1]
            try:
                tcp = _TcpServer(("127.0.0.1", port), _TcpHandler)
            except OSError:
                udp.close()
                continue
            break
        else:
            raise RuntimeError("no free port for the DNS stand-in (UDP and TCP)")
        udp.settimeout(0.2)
        tcp.owner = self
        self._udp, self._tcp = udp, tcp
        self._threads = [threading.Thread(target=self._serve_udp, name="dns-udp", daemon=True),
                         threading.Thread(target=tcp.serve_forever, kwargs={"poll_interval": 0.1},
                                          name="dns-tcp", daemon=True)]
        for thread in self._threads:
            thread.start()
        return self

    def _serve_udp(self):
        while not self._stopping.is_set():
            try:
                wire, address = self._udp.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            reply = self.answer(wire, "udp")
            if reply is not None:
                self._udp.sendto(reply, address)

    def stop(self):
        self._stopping.set()
        if self._tcp is not None:
            self._tcp.shutdown()
            self._tcp.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        if self._udp is not None:
            self._udp.close()
        self._udp = self._tcp = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def port(self):
        return self._udp.getsockname()[1]

    @property
    def address(self):
        """The `PDS_DNS_RESOLVER` value: `127.0.0.1:<port>`."""
        return f"127.0.0.1:{self.port}"


class _TcpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class _TcpHandler(socketserver.BaseRequestHandler):
    def handle(self):
        self.request.settimeout(5)
        try:
            while True:
                header = self._read(2)
                if header is None:
                    return
                wire = self._read(struct.unpack(">H", header)[0])
                if wire is None:
                    return
                reply = self.server.owner.answer(wire, "tcp")
                if reply is None:
                    return
                self.request.sendall(struct.pack(">H", len(reply)) + reply)
        except (OSError, socket.timeout):
            return

    def _read(self, size):
        data = b""
        while len(data) < size:
            chunk = self.request.recv(size - len(data))
            if not chunk:
                return None
            data += chunk
        return data
