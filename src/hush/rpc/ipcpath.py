"""The IPC endpoint's socket file: checked, bound with mode 0600, and removed only if ours.

geth's `geth.ipc` is a Unix socket that anyone who can open it may use with every API, so who
may connect is decided by the file system. geth creates the directory (0751), removes whatever is
at the path, binds, then chmods the socket to 0600. hush is stricter:
- The path fits a Unix socket address (`MAX_PATH` bytes), else `IpcPathTooLong`.
- The directory is created 0700 if missing; an existing one must be a directory owned by us (or
  root) and not writable by others unless sticky (/tmp), since whoever may write it can put their
  own socket in place of ours.
- What is at the path is kept unless it is a socket of ours that no one answers on (a node that
  died): a live socket (`hush.ipc in use`), another user's socket or a file that is not a
  socket is a `UsageError`, never removed.
- The socket is created with mode 0600 (on Linux `fchmod` before `bind` sets the mode the file is
  born with, so it is never more open, not even briefly) and chmodded to 0600 after `bind`.
- `release` removes the file only if it is still the one we bound (same device and inode): a
  node that stops never deletes a newer node's socket.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import stat
import sys
from pathlib import Path

from hush.errors import UsageError

__all__ = ["MAX_PATH", "BoundSocket", "IpcPathTooLong", "bind_ipc_socket"]

log = logging.getLogger(__name__)

MAX_PATH = 103 if sys.platform == "darwin" else 107
"""Bytes a Unix socket path may have: `sun_path` (104 on macOS, 108 on Linux) less its NUL."""
_BACKLOG = 128


class IpcPathTooLong(UsageError):
    """The path does not fit in a Unix socket address."""


class BoundSocket:
    """A listening Unix socket and the identity of its file."""

    def __init__(self, path: Path, sock: socket.socket):
        self.path = path
        self.socket = sock
        info = os.stat(path)
        self._identity = (info.st_dev, info.st_ino)

    def release(self) -> None:
        """Close the socket; remove its file if it is still ours."""
        self.socket.close()
        with contextlib.suppress(OSError):
            info = os.lstat(self.path)
            if (info.st_dev, info.st_ino) == self._identity:
                os.unlink(self.path)


def _check_directory(directory: Path) -> None:
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = os.stat(directory)
    except OSError as exc:
        raise UsageError(f"cannot use IPC directory {directory}: {exc.strerror or exc}") from None
    if not stat.S_ISDIR(info.st_mode):
        raise UsageError(f"IPC directory {directory} is not a directory")
    if info.st_uid not in (os.getuid(), 0):
        raise UsageError(
            f"IPC directory {directory} belongs to another user, who could replace the socket"
        )
    if info.st_mode & 0o022 and not info.st_mode & stat.S_ISVTX:
        raise UsageError(
            f"IPC directory {directory} is writable by other users, who could replace the "
            f"socket: chmod go-w {directory}, or give --ipc a path in a private directory"
        )


def _clear_stale(path: Path) -> None:
    """Remove a socket of ours no one listens on; refuse anything else at `path`."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise UsageError(f"cannot use IPC path {path}: {exc.strerror or exc}") from None
    hint = "give another --ipc PATH, or --ipcdisable"
    if not stat.S_ISSOCK(info.st_mode):
        raise UsageError(f"{path} exists and is not a socket; not replacing it ({hint})")
    if info.st_uid != os.getuid():
        raise UsageError(f"{path} is another user's socket; not replacing it ({hint})")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(2.0)
    try:
        probe.connect(str(path))
    except ConnectionRefusedError:  # nobody listens: a node that died left it
        os.unlink(path)
        log.info("removed stale IPC socket %s", path)
        return
    except OSError as exc:  # a full backlog times out: someone listens
        raise UsageError(f"{path} is in use ({exc.strerror or exc}); {hint}") from None
    finally:
        probe.close()
    raise UsageError(f"{path} is in use by a running node; {hint}")


def bind_ipc_socket(path: Path) -> BoundSocket:
    """A listening, non-blocking Unix socket at `path` (see the module rules); UsageError if not."""
    path = Path(os.path.abspath(path.expanduser()))
    size = len(os.fsencode(path))
    if size > MAX_PATH:
        raise IpcPathTooLong(
            f"IPC path {path} is {size} bytes, more than the {MAX_PATH} a Unix socket path may "
            "have: give a shorter --ipc PATH"
        )
    _check_directory(path.parent)
    _clear_stale(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        with contextlib.suppress(OSError):  # Linux: the file is born 0600; elsewhere see chmod
            os.fchmod(sock.fileno(), 0o600)
        sock.bind(str(path))
        os.chmod(path, 0o600)
        sock.listen(_BACKLOG)
        sock.setblocking(False)
        return BoundSocket(path, sock)
    except OSError as exc:
        sock.close()
        raise UsageError(f"cannot open IPC socket {path}: {exc.strerror or exc}") from None
