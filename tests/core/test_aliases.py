"""The public type aliases are real objects at run time, usable in any annotation.

This module deliberately has no ``from __future__ import annotations``: annotations below are
evaluated when the functions are defined, as in user code that does not defer them.
"""

from ws_channel_core import Message


def test_message_or_none_works_at_run_time_in_an_annotation() -> None:
    def last(messages: list[Message]) -> Message | None:
        return messages[-1] if messages else None

    assert last.__annotations__["return"] == str | bytes | None
    assert last(["a", b"b"]) == b"b"
    assert last([]) is None


def test_message_is_the_union_of_str_and_bytes() -> None:
    assert Message == str | bytes
    assert isinstance("text", Message) and isinstance(b"data", Message)
