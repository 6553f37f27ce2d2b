"""Commands that talk to a running node over JSON-RPC: `hush post`, `watch` and `info`.

They use only geth-compatible methods (whisper-v6.md §5), so they work against geth 1.9 too. A
password becomes a symmetric key on the node for the duration of the command and is removed
afterwards. Errors are one line (`hush: error: …`), never a traceback, whatever the server answers
(hush.cli.rpcclient). Each command lives in its own module (`hush.cli.post`, `hush.cli.watch`,
`hush.cli.info`), what they share about keys and topics in `hush.cli.room`; this module gathers
them for `hush.cli.main` (the names stay importable from here). `hush keys` lives in
hush.cli.keys, `hush chat` in hush.cli.chat.
"""

from __future__ import annotations

from hush.cli.info import info
from hush.cli.post import post, with_spinner
from hush.cli.room import (
    DEFAULT_TTL,
    NO_KEY,
    Key,
    forget,
    get_password,
    hex_arg,
    password_option,
    room_key,
    topic_arg,
    wnode_topic,
)
from hush.cli.watch import follow, follow_options, human, messages, sender_name, watch

__all__ = [
    "DEFAULT_TTL",
    "NO_KEY",
    "Key",
    "follow",
    "follow_options",
    "forget",
    "get_password",
    "hex_arg",
    "human",
    "info",
    "messages",
    "password_option",
    "post",
    "room_key",
    "sender_name",
    "topic_arg",
    "watch",
    "with_spinner",
    "wnode_topic",
]
