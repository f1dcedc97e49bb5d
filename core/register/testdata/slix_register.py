"""In-band registration with Debian's python3-slixmpp, signed the way the
Go test cannot influence: HMAC-SHA1 from Python's standard library over a
base string built here from XEP-0348's rules.

    slix_register.py MODE JID PASSWORD [KEY SECRET]

MODE:
  waher     sign with the deployed clients' base string "submit&&..."
  xep       sign with XEP-0348's base string "submit&DOMAIN&..."
  unsigned  submit the form with the OAuth fields left empty
  legacy    submit <username/> and <password/> without a form
  passwd    log in, change the password to KEY (XEP-0077 legacy fields),
            log in again with it
  remove    log in, remove the account (<remove/>)

Environment: XMPP_HOST, XMPP_PORT, XMPP_DOMAIN (set by apptest).

Prints one line per outcome: "REGISTERED", "REGISTER_ERROR condition text",
"SESSION jid", "AUTH_FAILED condition", "PASSWD_OK", "PASSWD_ERROR ...",
"REMOVED", "REMOVE_ERROR ...", "STREAM_ERROR condition", "DISCONNECTED".
Exits 0 once disconnected; 2 on timeout.
"""

import asyncio
import base64
import hashlib
import hmac
import logging
import os
import ssl
import sys
import time
import secrets
import urllib.parse
import xml.etree.ElementTree as ET

import slixmpp
from slixmpp.exceptions import IqError

NS_REG = "jabber:iq:register"
NS_DATA = "jabber:x:data"


def out(*parts):
    print(" ".join(str(p) for p in parts), flush=True)


def esc(s):
    return urllib.parse.quote(s, safe="-._~")


def sign(fields, key, secret, variant, domain):
    fields["oauth_version"] = "1.0"
    fields["oauth_signature_method"] = "HMAC-SHA1"
    fields["oauth_consumer_key"] = key
    fields["oauth_timestamp"] = str(int(time.time()))
    fields["oauth_nonce"] = secrets.token_hex(16)
    pstr = "&".join(esc(k) + "=" + esc(v) for k, v in sorted(fields.items())
                    if k not in ("oauth_token_secret", "oauth_signature"))
    to = "" if variant == "waher" else domain
    base = "submit&" + esc(to) + "&" + esc(pstr)
    mac = hmac.new((esc(secret) + "&" + esc(fields.get("oauth_token_secret", ""))).encode(),
                   base.encode(), hashlib.sha1).digest()
    fields["oauth_signature"] = esc(base64.b64encode(mac).decode())


def main():
    logging.basicConfig(level=os.environ.get("XMPP_LOG", "WARNING"), stream=sys.stderr)
    mode, jid, password = sys.argv[1], sys.argv[2], sys.argv[3]
    key = sys.argv[4] if len(sys.argv) > 4 else ""
    secret = sys.argv[5] if len(sys.argv) > 5 else ""
    domain = os.environ["XMPP_DOMAIN"]

    xmpp = slixmpp.ClientXMPP(jid, password)
    xmpp.ssl_context.check_hostname = False
    xmpp.ssl_context.verify_mode = ssl.CERT_NONE
    xmpp.register_plugin("xep_0030")
    xmpp.register_plugin("xep_0004")
    xmpp.register_plugin("xep_0077")
    # Only the registration modes register; the others log in.
    xmpp["xep_0077"].create_account = mode in ("waher", "xep", "unsigned", "legacy")
    # slixmpp 1.8 queues every iq until the session starts, which deadlocks
    # its own XEP-0077 client: the get for the form never leaves. Let
    # stanzas through before login, as its own test harness does.
    xmpp._always_send_everything = xmpp["xep_0077"].create_account

    loop = asyncio.get_event_loop()
    done = loop.create_future()

    async def on_register(iq):
        query = iq.xml.find("{%s}query" % NS_REG)
        form = query.find("{%s}x" % NS_DATA) if query is not None else None
        reply = xmpp.Iq()
        reply["type"] = "set"
        q = ET.Element("{%s}query" % NS_REG)
        if mode == "legacy" or form is None:
            ET.SubElement(q, "{%s}username" % NS_REG).text = xmpp.boundjid.user
            ET.SubElement(q, "{%s}password" % NS_REG).text = password
        else:
            fields = {}
            for f in form.findall("{%s}field" % NS_DATA):
                var = f.get("var")
                if var:
                    v = f.find("{%s}value" % NS_DATA)
                    fields[var] = (v.text or "") if v is not None else ""
            fields["username"] = xmpp.boundjid.user
            fields["password"] = password
            if mode in ("waher", "xep"):
                sign(fields, key, secret, mode, domain)
            x = ET.SubElement(q, "{%s}x" % NS_DATA, type="submit")
            for var, val in fields.items():
                fe = ET.SubElement(x, "{%s}field" % NS_DATA, var=var)
                ET.SubElement(fe, "{%s}value" % NS_DATA).text = val
        reply.set_payload(q)
        try:
            await reply.send()
            out("REGISTERED")
        except IqError as e:
            out("REGISTER_ERROR", e.iq["error"]["condition"], e.iq["error"]["text"])
            xmpp.disconnect()

    async def on_session(_):
        out("SESSION", xmpp.boundjid.bare)
        if mode == "passwd":
            try:
                await xmpp["xep_0077"].change_password(key)
                out("PASSWD_OK")
            except IqError as e:
                out("PASSWD_ERROR", e.iq["error"]["condition"], e.iq["error"]["text"])
            xmpp.disconnect()
        elif mode == "remove":
            try:
                await xmpp["xep_0077"].cancel_registration()
                out("REMOVED")
            except IqError as e:
                out("REMOVE_ERROR", e.iq["error"]["condition"], e.iq["error"]["text"])
                xmpp.disconnect()
        else:
            xmpp.disconnect()

    def disconnected(_):
        out("DISCONNECTED")
        if not done.done():
            done.set_result(None)

    xmpp.add_event_handler("register", on_register)
    xmpp.add_event_handler("session_start", on_session)
    xmpp.add_event_handler("failed_auth", lambda s: out("AUTH_FAILED", s["condition"]))
    xmpp.add_event_handler("failed_all_auth", lambda _: xmpp.disconnect())
    xmpp.add_event_handler("stream_error", lambda e: out("STREAM_ERROR", e["condition"]))
    xmpp.add_event_handler("disconnected", disconnected)
    xmpp.add_event_handler("connection_failed", disconnected)
    xmpp.connect((os.environ["XMPP_HOST"], int(os.environ["XMPP_PORT"])))
    try:
        loop.run_until_complete(asyncio.wait_for(done, timeout=60))
    except asyncio.TimeoutError:
        out("TIMEOUT")
        sys.exit(2)


if __name__ == "__main__":
    main()
