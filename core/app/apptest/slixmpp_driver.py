"""Drive Debian's python3-slixmpp from a Go test, one JSON object a line.

Environment: XMPP_JID (with a resource to ask for one), XMPP_PASSWORD,
XMPP_HOST, XMPP_PORT, XMPP_DIRECT_TLS ("1": XEP-0368 direct TLS instead of
STARTTLS), XMPP_MECH (one SASL mechanism to use; empty: slixmpp chooses).

stdout: {"event": "session_start", "jid": ...}, {"event": "stanza", "xml": ...}
for every stanza received, {"event": "failed_auth", "condition": ...},
{"event": "failed_all_auth"}, {"event": "stream_error", "condition": ...},
{"event": "disconnected"}.
stdin: {"send": "<raw xml/>"} or {"close": true}.
"""

import asyncio
import json
import logging
import os
import ssl
import sys

import slixmpp


def emit(**kw):
    sys.stdout.write(json.dumps(kw) + "\n")
    sys.stdout.flush()


def main():
    logging.basicConfig(level=os.environ.get("XMPP_LOG", "WARNING"), stream=sys.stderr)
    mech = os.environ.get("XMPP_MECH") or None
    xmpp = slixmpp.ClientXMPP(os.environ["XMPP_JID"], os.environ["XMPP_PASSWORD"], sasl_mech=mech)
    # The broker's certificate is self-signed.
    xmpp.ssl_context.check_hostname = False
    xmpp.ssl_context.verify_mode = ssl.CERT_NONE

    def incoming(stanza):
        if stanza.name in ("message", "presence", "iq"):
            emit(event="stanza", xml=str(stanza))
        return stanza

    xmpp.add_filter("in", incoming)
    xmpp.add_event_handler("session_start", lambda _: emit(event="session_start", jid=str(xmpp.boundjid)))
    xmpp.add_event_handler("failed_auth", lambda s: emit(event="failed_auth", condition=s["condition"]))
    xmpp.add_event_handler("failed_all_auth", lambda _: emit(event="failed_all_auth"))
    xmpp.add_event_handler("stream_error", lambda e: emit(event="stream_error", condition=e["condition"]))

    loop = asyncio.get_event_loop()
    done = loop.create_future()

    def disconnected(_):
        emit(event="disconnected")
        if not done.done():
            done.set_result(None)

    xmpp.add_event_handler("disconnected", disconnected)
    xmpp.add_event_handler("connection_failed", disconnected)

    def command():
        line = sys.stdin.readline()
        if not line:
            loop.remove_reader(sys.stdin.fileno())
            xmpp.disconnect()
            return
        cmd = json.loads(line)
        if "send" in cmd:
            xmpp.send_raw(cmd["send"])
        if cmd.get("close"):
            xmpp.disconnect()

    loop.add_reader(sys.stdin.fileno(), command)
    direct = os.environ.get("XMPP_DIRECT_TLS") == "1"
    port = int(os.environ["XMPP_DIRECT_PORT"] if direct else os.environ["XMPP_PORT"])
    xmpp.connect((os.environ["XMPP_HOST"], port), use_ssl=direct)
    loop.run_until_complete(asyncio.wait_for(done, timeout=120))


if __name__ == "__main__":
    main()
