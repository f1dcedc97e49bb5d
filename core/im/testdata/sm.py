"""XEP-0198 with slixmpp: a receiver with stream management loses its TCP
connection with messages in flight, reconnects and resumes; every message
arrives exactly once.

usage: sm.py SENDER RECEIVER PASSWORD_SUFFIX
"""
import asyncio
import sys

from slixhelp import Client, DOMAIN, HOST, PORT, TIMEOUT, fail, run

sender_u, receiver_u, suffix = sys.argv[1:4]
R = receiver_u + "@" + DOMAIN + "/sm"
N = 30


async def wait_for(cond, what):
    for _ in range(TIMEOUT * 10):
        if cond():
            return
        await asyncio.sleep(0.1)
    fail("timed out: " + what)


async def main():
    sender = await Client(sender_u, sender_u + suffix, "sx").login()
    r = Client(receiver_u, receiver_u + suffix, "sm", plugins=["xep_0198"])
    enabled = asyncio.get_event_loop().create_future()
    resumed = asyncio.get_event_loop().create_future()
    r.add_event_handler("sm_enabled", lambda _: enabled.done() or enabled.set_result(True))
    r.add_event_handler("session_resumed", lambda _: resumed.done() or resumed.set_result(True))
    got = []
    r.add_event_handler("message", lambda m: got.append(m["body"]) if m["body"].startswith("sm ") else None)
    await r.login()
    await asyncio.wait_for(enabled, TIMEOUT)

    for i in range(N):
        sender.send_message(mto=R, mbody="sm %d" % i, mtype="chat")
    await wait_for(lambda: len(got) >= N, "first %d messages" % N)

    # The connection dies without a stream end; messages keep coming.
    r.transport.abort()
    await asyncio.sleep(0.5)
    for i in range(N, 2 * N):
        sender.send_message(mto=R, mbody="sm %d" % i, mtype="chat")
    await asyncio.sleep(0.5)

    r.connect((HOST, PORT))
    try:
        await asyncio.wait_for(resumed, TIMEOUT)
    except asyncio.TimeoutError:
        fail("the stream was not resumed")
    await wait_for(lambda: len(set(got)) >= 2 * N, "all %d messages" % (2 * N))
    await asyncio.sleep(0.5)
    if sorted(set(got)) != sorted("sm %d" % i for i in range(2 * N)):
        fail("wrong messages: %s" % sorted(set(got)))
    if len(got) != 2 * N:
        fail("%d messages delivered for %d sent: duplicates" % (len(got), 2 * N))
    for c in (sender, r):
        await c.logout()


run(main)
