"""Two hush nodes in one asyncio program, talking over loopback."""

import asyncio

from hush.node import Node, NodeConfig, PostRequest
from hush.shh.filters import Filter
from hush.shh.topic import topic_from_hex

TOPIC = topic_from_hex("0x12345678")


def config() -> NodeConfig:
    # No data directory (keys in memory), a free port on loopback.
    return NodeConfig(datadir=None, listen_host="127.0.0.1", listen_port=0)


async def main() -> None:
    async with Node(config()) as alice, Node(config()) as bob:
        alice.add_peer(bob.enode)  # a static peer: redialled with backoff if it drops

        # Bob listens on a password-derived room key.
        room = bob.keys.sym_key_from_password("swordfish")
        inbox = bob.subscribe(Filter(sym_key=bob.keys.sym_key(room), topics=frozenset({TOPIC})))

        while not bob.peers():  # wait for the devp2p and shh handshakes
            await asyncio.sleep(0.05)
        key = alice.keys.sym_key_from_password("swordfish")
        signer = alice.keys.new_key_pair()
        await alice.post(PostRequest(b"hi bob", TOPIC, sym_key_id=key, signer_id=signer))

        async with asyncio.timeout(10):
            async for message in inbox:
                print("bob got:", message.payload.decode(), "signed by", message.signer.hex()[:16])
                break


asyncio.run(main())
