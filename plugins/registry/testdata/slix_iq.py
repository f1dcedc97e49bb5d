"""Send raw iq payloads to one address with Debian's python3-slixmpp and
print each answer, for the registry's end-to-end tests.

    slix_iq.py JID PASSWORD TO TYPE PAYLOAD [TYPE PAYLOAD ...]

Each PAYLOAD is one XML element (the iq's child), sent in an iq of TYPE
(get or set) to TO, one after the other. Prints one line per answer:
"RESULT <xml>" or "ERROR condition <xml>", then "DONE".

Environment: XMPP_HOST, XMPP_PORT (set by apptest).
Exits 0 once disconnected; 2 on timeout.
"""

import asyncio
import logging
import os
import ssl
import sys
import xml.etree.ElementTree as ET

import slixmpp
from slixmpp.exceptions import IqError, IqTimeout


def out(*parts):
    print(" ".join(str(p) for p in parts), flush=True)


def main():
    logging.basicConfig(level=os.environ.get("XMPP_LOG", "WARNING"), stream=sys.stderr)
    jid, password, to = sys.argv[1], sys.argv[2], sys.argv[3]
    reqs = list(zip(sys.argv[4::2], sys.argv[5::2]))

    xmpp = slixmpp.ClientXMPP(jid, password)
    xmpp.ssl_context.check_hostname = False
    xmpp.ssl_context.verify_mode = ssl.CERT_NONE
    loop = asyncio.get_event_loop()
    done = loop.create_future()

    async def on_session(_):
        for typ, payload in reqs:
            iq = xmpp.Iq()
            iq["type"] = typ
            iq["to"] = to
            iq.set_payload(ET.fromstring(payload))
            try:
                res = await iq.send(timeout=20)
                out("RESULT", str(res))
            except IqError as e:
                out("ERROR", e.iq["error"]["condition"], str(e.iq))
            except IqTimeout:
                out("TIMEOUT")
        out("DONE")
        xmpp.disconnect()

    def disconnected(_):
        if not done.done():
            done.set_result(None)

    xmpp.add_event_handler("session_start", on_session)
    xmpp.add_event_handler("failed_auth", lambda s: out("AUTH_FAILED"))
    xmpp.add_event_handler("failed_all_auth", lambda _: xmpp.disconnect())
    xmpp.add_event_handler("disconnected", disconnected)
    xmpp.add_event_handler("connection_failed", disconnected)
    xmpp.connect((os.environ["XMPP_HOST"], int(os.environ["XMPP_PORT"])))
    try:
        loop.run_until_complete(asyncio.wait_for(done, timeout=90))
    except asyncio.TimeoutError:
        out("TIMEOUT")
        sys.exit(2)


if __name__ == "__main__":
    main()
