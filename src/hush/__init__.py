"""hush: Whisper v6 (shh/6), wire-compatible with go-ethereum 1.9's whisperv6."""

__all__ = ["CLIENT_ID", "__version__"]

__version__ = "0.1.0"

CLIENT_ID = f"hush/v{__version__}"
"""The devp2p client id announced in Hello (devp2p.md §4.2) and by web3_clientVersion."""
