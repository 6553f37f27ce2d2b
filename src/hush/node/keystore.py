"""Key pairs and symmetric keys by id, in memory as in geth (whisper-v6.md §5).

Ids are 32 random bytes as 64 lowercase hex characters, no 0x. Error strings are geth's, since
JSON-RPC clients match on them. Optional persistence lives in `hush.node.keyfile`. A new id costs
O(1): it is checked against both tables by lookup, never by building the set of every id (which
made each key dearer than the last: 40,000 keys in one batch took 37 s). Limits on how many keys
a client may create live with the RPC (`hush.rpc.config.ApiLimits`), which checks `len(store)`.
"""

from __future__ import annotations

from collections.abc import Container

from hush.crypto.keys import PrivateKey
from hush.crypto.symmetric import SymmetricKey
from hush.errors import InvalidKeyError, UsageError
from hush.types import KeyID, RandomBytes

__all__ = ["KeyStore", "new_id"]


def new_id(random_bytes: RandomBytes, *taken: Container[object]) -> KeyID:
    """A fresh random id in none of `taken` (each checked by membership: O(1) for dicts/sets)."""
    while True:
        candidate = KeyID(random_bytes(32).hex())
        if not any(candidate in container for container in taken):
            return candidate


class KeyStore:
    def __init__(self, random_bytes: RandomBytes):
        self._random_bytes = random_bytes
        self.private_keys: dict[KeyID, PrivateKey] = {}
        self.sym_keys: dict[KeyID, SymmetricKey] = {}

    def __len__(self) -> int:
        """Key pairs and symmetric keys held."""
        return len(self.private_keys) + len(self.sym_keys)

    def _id(self) -> KeyID:
        return new_id(self._random_bytes, self.private_keys, self.sym_keys)

    # -- key pairs -----------------------------------------------------------------------------

    def new_key_pair(self) -> KeyID:
        return self.add_key_pair(PrivateKey.generate(self._random_bytes))

    def add_key_pair(self, key: PrivateKey, key_id: KeyID | None = None) -> KeyID:
        key_id = key_id or self._id()
        self.private_keys[key_id] = key
        return key_id

    def add_private_key(self, secret: bytes) -> KeyID:
        return self.add_key_pair(PrivateKey(secret))

    def delete_key_pair(self, key_id: str) -> bool:
        return self.private_keys.pop(KeyID(key_id), None) is not None

    def has_key_pair(self, key_id: str) -> bool:
        return key_id in self.private_keys

    def private_key(self, key_id: str) -> PrivateKey:
        key = self.private_keys.get(KeyID(key_id))
        if key is None:
            raise UsageError("invalid id")
        return key

    # -- symmetric keys ------------------------------------------------------------------------

    def new_sym_key(self) -> KeyID:
        while True:
            try:
                return self.add_sym_key(self._random_bytes(32))
            except InvalidKeyError:  # all-zero: astronomically unlikely, but invalid
                continue

    def add_sym_key(self, secret: bytes, key_id: KeyID | None = None) -> KeyID:
        key = SymmetricKey(secret)
        key_id = key_id or self._id()
        self.sym_keys[key_id] = key
        return key_id

    def sym_key_from_password(self, password: str) -> KeyID:
        return self.add_sym_key(SymmetricKey.from_password(password).secret)

    def has_sym_key(self, key_id: str) -> bool:
        return key_id in self.sym_keys

    def sym_key(self, key_id: str) -> SymmetricKey:
        key = self.sym_keys.get(KeyID(key_id))
        if key is None:
            raise UsageError("non-existent key ID")
        return key

    def delete_sym_key(self, key_id: str) -> bool:
        return self.sym_keys.pop(KeyID(key_id), None) is not None
