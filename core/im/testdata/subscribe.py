"""RFC 6121 §3 with slixmpp: request, approve, mutual, unsubscribe with the
unavailable presence it implies, a pending request re-delivered at login.

usage: subscribe.py ALICE BOB CAROL PASSWORD_SUFFIX
"""
import asyncio
import sys

from slixhelp import Client, DOMAIN, fail, run

alice_u, bob_u, carol_u, suffix = sys.argv[1:5]
A, B, C = (u + "@" + DOMAIN for u in (alice_u, bob_u, carol_u))


async def expect_state(client, contact, want):
    got = await client.subscription(contact, want)
    if got != want:
        fail("%s toward %s: %s, want %s" % (client.boundjid.bare, contact, got, want))


async def main():
    alice = await Client(alice_u, alice_u + suffix, "sx").login()
    bob = await Client(bob_u, bob_u + suffix, "sx").login()

    alice.send_presence_subscription(pto=B)
    await bob.presence(lambda p: p["type"] == "subscribe" and p["from"].bare == A, "subscribe from alice")
    await expect_state(alice, B, "none+ask")

    bob.send_presence(pto=A, ptype="subscribed")
    await alice.presence(lambda p: p["type"] == "subscribed" and p["from"].bare == B, "subscribed from bob")
    # Bob's current presence follows his approval (§3.1.5).
    await alice.presence(lambda p: p["type"] == "available" and p["from"].bare == B, "bob's presence")
    await expect_state(alice, B, "to")
    await expect_state(bob, A, "from")

    bob.send_presence_subscription(pto=A)
    await alice.presence(lambda p: p["type"] == "subscribe" and p["from"].bare == B, "subscribe from bob")
    alice.send_presence(pto=B, ptype="subscribed")
    await bob.presence(lambda p: p["type"] == "subscribed", "subscribed from alice")
    await expect_state(alice, B, "both")
    await expect_state(bob, A, "both")

    # §3.3.3: when alice unsubscribes, bob's server sends unavailable from
    # each of bob's resources.
    alice.send_presence(pto=B, ptype="unsubscribe")
    await alice.presence(lambda p: p["type"] == "unavailable" and p["from"].bare == B, "unavailable from bob")
    await expect_state(alice, B, "from")
    await expect_state(bob, A, "to")

    # A request to an offline user waits for its login, every login.
    alice.send_presence_subscription(pto=C)
    await asyncio.sleep(0.5)
    for _ in range(2):
        carol = await Client(carol_u, carol_u + suffix, "sx").login()
        await carol.presence(lambda p: p["type"] == "subscribe" and p["from"].bare == A, "pending subscribe at login")
        await carol.logout()
    for c in (alice, bob):
        await c.logout()


run(main)
