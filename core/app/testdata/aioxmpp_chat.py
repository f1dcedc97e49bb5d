"""aioxmpp_chat.py JID PASSWORD PEER: log in with aioxmpp over STARTTLS,
send PEER a chat message, wait for a chat reply from PEER and print it.
Exits non-zero on any failure. Used by sendxmpp_e2e_test.go."""
import asyncio
import os
import sys

import aioxmpp
import aioxmpp.connector
import aioxmpp.dispatcher


async def main(jid, password, peer):
    client = aioxmpp.PresenceManagedClient(
        aioxmpp.JID.fromstr(jid),
        aioxmpp.make_security_layer(password, no_verify=True),
        override_peer=[(os.environ["XMPP_HOST"], int(os.environ["XMPP_PORT"]),
                        aioxmpp.connector.STARTTLSConnector())],
    )
    peer = aioxmpp.JID.fromstr(peer)
    reply = asyncio.get_running_loop().create_future()

    def on_message(msg):
        if msg.from_.bare() == peer and msg.body and not reply.done():
            reply.set_result(msg.body.any())

    client.summon(aioxmpp.dispatcher.SimpleMessageDispatcher).register_callback(
        aioxmpp.MessageType.CHAT, None, on_message)
    async with client.connected():
        print("BOUND", client.local_jid, flush=True)
        msg = aioxmpp.Message(to=peer, type_=aioxmpp.MessageType.CHAT)
        msg.body[None] = "hello from aioxmpp"
        await client.send(msg)
        print("REPLY", await asyncio.wait_for(reply, 15), flush=True)


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
