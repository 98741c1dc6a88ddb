"""Loopback stand-ins for the network services a PDS talks to (PLC directory, AppView, chat service,
relay, DNS). Each checks what it receives against the real contract and keeps `failures`.

    with Network() as net:
        net.plc.url, net.appview.url, net.chat.did, net.relay.url, net.dns.address
        ...
        assert net.failures() == []
"""

from .appview import AppView, ChatService, DidResolver
from .dns import DnsServer
from .plc import PlcDirectory
from .relay import Relay

__all__ = ["AppView", "ChatService", "DidResolver", "DnsServer", "Network", "PlcDirectory", "Relay"]


class Network:
    """All stand-ins together, started and stopped as one (a context manager)."""

    def __init__(self, appview_did="did:web:appview.test"):
        self.plc = PlcDirectory()
        self.relay = Relay()
        self.dns = DnsServer()
        self.appview_did = appview_did
        self.appview = None
        self.chat = None

    def start(self):
        started = []
        try:
            for service in (self.plc, self.relay, self.dns):
                service.start()
                started.append(service)
            self.appview = AppView(self.plc.url, did=self.appview_did).start()
            started.append(self.appview)
            self.chat = ChatService(self.plc.url).start()
            started.append(self.chat)
        except BaseException:
            for service in reversed(started):
                service.stop()
            raise
        return self

    def stop(self):
        for service in (self.chat, self.appview, self.dns, self.relay, self.plc):
            if service is not None:
                service.stop()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def services(self):
        return [s for s in (self.plc, self.appview, self.chat, self.relay, self.dns) if s is not None]

    def failures(self):
        return [failure for service in self.services() for failure in list(service.failures)]

    def env(self):
        """The environment for `pds dev` that points it at these stand-ins."""
        return {
            "PDS_DID_PLC_URL": self.plc.url,
            "PDS_BSKY_APP_VIEW_URL": self.appview.url,
            "PDS_BSKY_APP_VIEW_DID": self.appview.did,
            "PDS_CRAWLERS": self.relay.url,
            "PDS_DNS_RESOLVER": self.dns.address,
        }
