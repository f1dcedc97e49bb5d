"""XEP-0191 with slixmpp: a blocked contact's message is refused with an
error and never delivered; unblocking lets it through again.

usage: blocking.py USER CONTACT PASSWORD_SUFFIX
"""
import asyncio
import sys

from slixhelp import Client, DOMAIN, fail, run

user_u, contact_u, suffix = sys.argv[1:4]
U, C = user_u + "@" + DOMAIN, contact_u + "@" + DOMAIN


async def main():
    user = await Client(user_u, user_u + suffix, "sx", plugins=["xep_0191"]).login()
    contact = await Client(contact_u, contact_u + suffix, "sx").login()
    await user.plugin["xep_0191"].block(C)
    items = await user.plugin["xep_0191"].get_blocked()
    if C not in [str(j) for j in items["blocklist"]["items"]]:
        fail("block list: %s" % items)

    contact.send_message(mto=U, mbody="let me in", mtype="chat")
    err = await contact.message(lambda m: m["type"] == "error", "error for a blocked message")
    if err["error"]["condition"] != "service-unavailable":
        fail("error %s" % err)
    await asyncio.sleep(0.5)
    while not user.inbox.empty():
        m = user.inbox.get_nowait()
        if m["body"] == "let me in":
            fail("blocked message delivered")

    await user.plugin["xep_0191"].unblock(C)
    contact.send_message(mto=U, mbody="now?", mtype="chat")
    await user.message(lambda m: m["body"] == "now?", "message after unblock")
    for c in (user, contact):
        await c.logout()


run(main)
