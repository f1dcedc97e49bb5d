"""Shared setup for the slixmpp end-to-end scripts of core/im.

Each script logs in one or more real slixmpp clients against the broker
named by XMPP_HOST, XMPP_PORT and XMPP_DOMAIN, runs one scenario, prints
OK and exits 0, or prints what went wrong and exits 1. Every wait is
bounded.
"""
import asyncio
import os
import ssl
import sys

import slixmpp

HOST = os.environ["XMPP_HOST"]
PORT = int(os.environ["XMPP_PORT"])
DOMAIN = os.environ["XMPP_DOMAIN"]
TIMEOUT = 15


def fail(msg):
    print("FAIL:", msg, flush=True)
    sys.exit(1)


class Client(slixmpp.ClientXMPP):
    """A client that collects what it receives in queues the script awaits."""

    def __init__(self, user, password, resource=None, plugins=()):
        jid = user + "@" + DOMAIN
        if resource:
            jid += "/" + resource
        super().__init__(jid, password, sasl_mech="PLAIN")
        # The broker's certificate is self-signed.
        self.ssl_context.check_hostname = False
        self.ssl_context.verify_mode = ssl.CERT_NONE
        # None: the script answers requests itself (False would refuse them).
        self.roster.auto_authorize = None
        self.roster.auto_subscribe = False
        for p in plugins:
            self.register_plugin(p)
        self.inbox = asyncio.Queue()
        self.presences = asyncio.Queue()
        self.online = asyncio.get_event_loop().create_future()
        self.add_event_handler("session_start", self._start)
        self.add_event_handler("message", lambda m: self.inbox.put_nowait(m))
        self.add_event_handler("message_error", lambda m: self.inbox.put_nowait(m))
        self.add_event_handler("presence", lambda p: self.presences.put_nowait(p))
        self.add_event_handler("failed_auth", lambda *_: fail(jid + ": authentication failed"))

    async def _start(self, _):
        await self.get_roster()
        self.send_presence()
        if not self.online.done():
            self.online.set_result(True)

    async def login(self):
        self.connect((HOST, PORT))
        try:
            await asyncio.wait_for(self.online, TIMEOUT)
        except asyncio.TimeoutError:
            fail(str(self.boundjid) + ": no session within %ds" % TIMEOUT)
        return self

    async def presence(self, pred, what):
        """Waits for a presence satisfying pred; others are dropped."""
        async def loop():
            while True:
                p = await self.presences.get()
                if pred(p):
                    return p
        try:
            return await asyncio.wait_for(loop(), TIMEOUT)
        except asyncio.TimeoutError:
            fail(str(self.boundjid) + ": no presence: " + what)

    async def message(self, pred, what):
        async def loop():
            while True:
                m = await self.inbox.get()
                if pred(m):
                    return m
        try:
            return await asyncio.wait_for(loop(), TIMEOUT)
        except asyncio.TimeoutError:
            fail(str(self.boundjid) + ": no message: " + what)

    async def subscription(self, contact, want=None):
        """The subscription of contact ("none", "to+ask"...) after a roster
        fetch. With want, waits a little for it: with roster versioning the
        changes arrive as pushes after the (empty) result."""
        await self.get_roster()
        for _ in range(50):
            item = self.client_roster[contact]
            s = item["subscription"]
            if item["pending_out"]:
                s += "+ask"
            if want is None or s == want:
                return s
            await asyncio.sleep(0.1)
        return s

    async def logout(self):
        self.disconnect()
        await asyncio.sleep(0.3)


def run(main):
    loop = asyncio.get_event_loop()
    try:
        loop.run_until_complete(asyncio.wait_for(main(), 90))
    except asyncio.TimeoutError:
        fail("scenario did not finish within 90s")
    print("OK", flush=True)
