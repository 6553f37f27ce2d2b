"""The node facade's key methods: geth's shh key calls over the node's `KeyStore` (`Node.keys`),
so that RPC and the CLI never hold the store itself. A part of the facade: `Node` inherits it."""

from __future__ import annotations

from hush.crypto.keys import PrivateKey
from hush.crypto.symmetric import SymmetricKey
from hush.node.keystore import KeyStore
from hush.types import KeyID

__all__ = ["KeyMethods"]


class KeyMethods:
    """Key pairs and symmetric keys, by id."""

    keys: KeyStore

    def key_count(self) -> int:
        """Key pairs and symmetric keys held."""
        return len(self.keys)

    def new_key_pair(self) -> KeyID:
        return self.keys.new_key_pair()

    def add_private_key(self, secret: bytes) -> KeyID:
        return self.keys.add_private_key(secret)

    def delete_key_pair(self, key_id: str) -> bool:
        return self.keys.delete_key_pair(key_id)

    def has_key_pair(self, key_id: str) -> bool:
        return self.keys.has_key_pair(key_id)

    def private_key(self, key_id: str) -> PrivateKey:
        """The key pair with this id (UsageError `invalid id` if none)."""
        return self.keys.private_key(key_id)

    def new_sym_key(self) -> KeyID:
        return self.keys.new_sym_key()

    def add_sym_key(self, secret: bytes) -> KeyID:
        return self.keys.add_sym_key(secret)

    def sym_key_from_password(self, password: str) -> KeyID:
        """PBKDF2 (65356 iterations): blocking, call it off the event loop."""
        return self.keys.sym_key_from_password(password)

    def has_sym_key(self, key_id: str) -> bool:
        return self.keys.has_sym_key(key_id)

    def sym_key(self, key_id: str) -> SymmetricKey:
        """The symmetric key with this id (UsageError `non-existent key ID` if none)."""
        return self.keys.sym_key(key_id)

    def delete_sym_key(self, key_id: str) -> bool:
        return self.keys.delete_sym_key(key_id)
