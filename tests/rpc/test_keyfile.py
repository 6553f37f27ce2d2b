"""Keys persist across restarts, encrypted, mode 0600, same ids."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from hush.errors import UsageError
from hush.node.keyfile import PersistentKeyStore, read_keyfile


def test_keys_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "keystore.json"
    store = PersistentKeyStore(path, "correct horse", scrypt_n=1024)
    pair = store.new_key_pair()
    sym = store.sym_key_from_password("room")
    gone = store.new_sym_key()
    assert store.delete_sym_key(gone)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert store.private_key(pair).secret.hex() not in path.read_text()
    again = PersistentKeyStore(path, "correct horse")
    assert again.private_key(pair).public_key == store.private_key(pair).public_key
    assert again.sym_key(sym).secret == store.sym_key(sym).secret
    assert not again.has_sym_key(gone)
    assert set(read_keyfile(path, "correct horse")["keyPairs"]) == {pair}
    with pytest.raises(UsageError, match="wrong passphrase"):
        PersistentKeyStore(path, "wrong")
