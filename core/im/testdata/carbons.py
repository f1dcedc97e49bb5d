"""XEP-0280 with slixmpp: an owner's second device sees both sides of a
conversation its first device has.

usage: carbons.py OWNER PEER PASSWORD_SUFFIX
"""
import sys

from slixhelp import Client, DOMAIN, fail, run

owner_u, peer_u, suffix = sys.argv[1:4]
O, P = owner_u + "@" + DOMAIN, peer_u + "@" + DOMAIN


async def main():
    peer = await Client(peer_u, peer_u + suffix, "sx").login()
    phone = await Client(owner_u, owner_u + suffix, "phone", plugins=["xep_0280"]).login()
    desk = await Client(owner_u, owner_u + suffix, "desk", plugins=["xep_0280"]).login()
    got = {"received": [], "sent": []}
    desk.add_event_handler("carbon_received", lambda m: got["received"].append(m["carbon_received"]))
    desk.add_event_handler("carbon_sent", lambda m: got["sent"].append(m["carbon_sent"]))
    for c in (phone, desk):
        await c.plugin["xep_0280"].enable()

    peer.send_message(mto=O + "/phone", mbody="to the phone", mtype="chat")
    await phone.message(lambda m: m["body"] == "to the phone", "message to the phone")
    phone.send_message(mto=P, mbody="from the phone", mtype="chat")
    await peer.message(lambda m: m["body"] == "from the phone", "message from the phone")

    import asyncio
    for _ in range(50):
        if got["received"] and got["sent"]:
            break
        await asyncio.sleep(0.1)
    if [m["body"] for m in got["received"]] != ["to the phone"]:
        fail("received carbons: %s" % got["received"])
    if [m["body"] for m in got["sent"]] != ["from the phone"]:
        fail("sent carbons: %s" % got["sent"])
    for c in (peer, phone, desk):
        await c.logout()


run(main)
