"""Logs in, sends presence, then kills its TCP connection without closing
the stream, as a device losing power does.

usage: abort.py USER PASSWORD RESOURCE
"""
import asyncio
import sys

from slixhelp import Client, run

user_u, password, resource = sys.argv[1:4]


async def main():
    c = await Client(user_u, password, resource).login()
    await asyncio.sleep(0.5)
    c.transport.abort()
    await asyncio.sleep(0.2)


run(main)
