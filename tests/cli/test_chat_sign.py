"""`hush chat` signs only when asked (--sign): a signature lets every holder of the room key
recover the signer's public key, so unsigned is the default."""

from __future__ import annotations

from click.testing import CliRunner

from hush.cli.main import main


def _chat(*flags: str) -> tuple[str, dict[bytes, bytes | None]]:
    from cli_servers import LiveNode

    live = LiveNode(room="sign room")
    try:
        result = CliRunner().invoke(
            main,
            ["chat", "--rpc", live.url, "--interval", "0.05", *flags],
            input="one\ntwo\n/quit\n",
            env={"HUSH_PASSWORD": "sign room"},
        )
        assert result.exit_code == 0, result.output
        return result.stdout, dict(live.room_messages())
    finally:
        live.close()


def test_chat_is_unsigned_by_default() -> None:
    out, caught = _chat()
    assert set(caught) == {b"one", b"two"}
    assert set(caught.values()) == {None}
    assert "you are anonymous" in out
    assert "anonymous: one" not in out  # our own lines are not shown back to us


def test_chat_signs_when_asked_with_one_session_key() -> None:
    _, caught = _chat("--sign")
    signers = set(caught.values())
    assert set(caught) == {b"one", b"two"} and len(signers) == 1 and None not in signers


def test_the_help_says_what_a_signature_reveals() -> None:
    for command in (["chat", "--help"], ["post", "--help"]):
        result = CliRunner().invoke(main, command)
        assert result.exit_code == 0 and "recover" in result.output
