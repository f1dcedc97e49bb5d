"""XEP-0160 with slixmpp: messages to an offline user arrive at its login,
in order, each with an XEP-0203 delay stamp from the server.

usage: offline.py SENDER RECEIVER PASSWORD_SUFFIX
"""
import asyncio
import sys

from slixhelp import Client, DOMAIN, fail, run

sender_u, receiver_u, suffix = sys.argv[1:4]
R = receiver_u + "@" + DOMAIN


async def main():
    s = await Client(sender_u, sender_u + suffix, "sx").login()
    for i in range(5):
        s.send_message(mto=R, mbody="offline %d" % i, mtype="chat")
    await asyncio.sleep(1)
    await s.logout()

    r = Client(receiver_u, receiver_u + suffix, "sx", plugins=["xep_0203"])
    await r.login()
    for i in range(5):
        m = await r.message(lambda m: m["body"].startswith("offline"), "offline message %d" % i)
        if m["body"] != "offline %d" % i:
            fail("got %r, want offline %d next" % (m["body"], i))
        d = m["delay"]
        if not d["stamp"] or d["from"] != DOMAIN:
            fail("no delay stamp from %s: %s" % (DOMAIN, m))
    await r.logout()


run(main)
