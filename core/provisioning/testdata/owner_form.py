"""An owner whose client speaks no prov:o answers a provisioning question
with the XEP-0004 form that comes with it (slixmpp, XEP-0004 plugin).

usage: owner_form.py USER PASSWORD RESULT RANGE
Logs in, waits for the question message from provisioning.DOMAIN, submits
the form with result=RESULT and range=RANGE, prints OK and exits 0; exits 1
with what went wrong otherwise. Every wait is bounded.
"""
import asyncio
import os
import ssl
import sys

import slixmpp

HOST = os.environ["XMPP_HOST"]
PORT = int(os.environ["XMPP_PORT"])
DOMAIN = os.environ["XMPP_DOMAIN"]
PROV = "provisioning." + DOMAIN
FORM_TYPE = "urn:extasis:provisioning:question:0"
TIMEOUT = 20

user, password, result, rng = sys.argv[1:5]


def fail(msg):
    print("FAIL:", msg, flush=True)
    sys.exit(1)


class Owner(slixmpp.ClientXMPP):
    def __init__(self):
        super().__init__(user + "@" + DOMAIN + "/form", password, sasl_mech="PLAIN")
        self.ssl_context.check_hostname = False
        self.ssl_context.verify_mode = ssl.CERT_NONE
        self.register_plugin("xep_0004")
        self.questions = asyncio.Queue()
        self.online = asyncio.get_event_loop().create_future()
        self.add_event_handler("session_start", self.start)
        self.add_event_handler("message", self.on_message)
        self.add_event_handler("failed_auth", lambda *_: fail("authentication failed"))

    async def start(self, _):
        self.send_presence()
        if not self.online.done():
            self.online.set_result(True)

    def on_message(self, msg):
        if str(msg["from"]) == PROV and msg["form"]["type"] == "form":
            self.questions.put_nowait(msg)


async def main():
    c = Owner()
    c.connect((HOST, PORT))
    await asyncio.wait_for(c.online, TIMEOUT)
    msg = await asyncio.wait_for(c.questions.get(), TIMEOUT)
    form = msg["form"]
    # Single values may come back as one-element lists.
    values = {k: (v[0] if isinstance(v, list) and len(v) == 1 else v) for k, v in form.get_values().items()}
    if values.get("FORM_TYPE") != FORM_TYPE:
        fail("unexpected FORM_TYPE %r" % values.get("FORM_TYPE"))
    if not msg["body"]:
        fail("question without a body line")
    answer = c["xep_0004"].make_form(ftype="submit")
    answer.add_field(var="FORM_TYPE", value=FORM_TYPE, ftype="hidden")
    answer.add_field(var="key", value=values["key"])
    answer.add_field(var="result", value=result)
    answer.add_field(var="range", value=rng)
    reply = c.make_message(mto=PROV)
    reply.append(answer)
    reply.send()
    print("answered question about", values.get("thing"), "from", values.get("remote"), flush=True)
    await asyncio.sleep(0.5)
    c.disconnect()
    await asyncio.sleep(0.3)


loop = asyncio.get_event_loop()
try:
    loop.run_until_complete(asyncio.wait_for(main(), 60))
except asyncio.TimeoutError:
    fail("no question within the time allowed")
print("OK", flush=True)
