"""hush: Whisper v6 (shh/6), wire-compatible with go-ethereum 1.9's whisperv6."""

__version__ = "0.1.0"
