"""PassiveActor: one message at a time, in order, in its senders' threads."""

from __future__ import annotations

import threading
from typing import Any

import pykka
import pytest

from actors.base import PassiveActor
from actors.mailbox import ResultMailbox
from actors.messages import RunEnded

WAIT = 10  # seconds: a bound against hangs, never reached when all is well


class Recorder(PassiveActor):
    """Records (message, thread) and checks that no two handlers overlap."""

    def __init__(self) -> None:
        super().__init__()
        self.handled: list[tuple[Any, str]] = []
        self.inside = False
        self.overlapped = False
        self.hooks: dict[Any, Any] = {}

    def on_receive(self, message: Any) -> Any:
        if self.inside:
            self.overlapped = True
        self.inside = True
        try:
            self.handled.append((message, threading.current_thread().name))
            hook = self.hooks.get(message)
            if hook is not None:
                hook()
            return ("answer", message)
        finally:
            self.inside = False


def messages(actor: Recorder) -> list[Any]:
    return [m for m, _ in actor.handled]


def test_a_message_told_by_a_handler_waits_for_the_handler_to_end():
    actor = Recorder()
    actor.hooks["first"] = lambda: actor.tell("answer")
    actor.tell("first")
    actor.tell("second")
    assert messages(actor) == ["first", "answer", "second"]
    assert not actor.overlapped


def test_a_busy_actor_is_told_without_blocking_and_the_busy_thread_handles_it():
    actor = Recorder()
    entered, release = threading.Event(), threading.Event()

    def block() -> None:
        entered.set()
        assert release.wait(WAIT)

    actor.hooks["slow"] = block
    sender = threading.Thread(target=actor.tell, args=("slow",), name="sender")
    sender.start()
    assert entered.wait(WAIT)
    actor.tell("queued")  # returns at once: "slow" is being handled
    assert messages(actor) == ["slow"]
    release.set()
    sender.join(WAIT)
    assert actor.handled == [("slow", "sender"), ("queued", "sender")]


def test_messages_from_many_threads_are_each_handled_once_in_sender_order():
    actor = Recorder()
    start = threading.Barrier(4)

    def send(name: str) -> None:
        start.wait(WAIT)
        for i in range(2000):
            actor.tell((name, i))

    threads = [threading.Thread(target=send, args=(f"t{k}",)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT)
    got = messages(actor)
    assert len(got) == 8000
    for k in range(4):
        assert [i for name, i in got if name == f"t{k}"] == list(range(2000))
    assert not actor.overlapped


def test_ask_answers_after_the_messages_told_before():
    actor = Recorder()
    actor.hooks["first"] = lambda: actor.tell("told by first")
    actor.tell("first")
    assert actor.ask("query") == ("answer", "query")
    assert messages(actor) == ["first", "told by first", "query"]


def test_a_failing_handler_ends_the_run_and_the_actor_drops_what_follows():
    class Failing(Recorder):
        def on_receive(self, message: Any) -> Any:
            if message == "boom":
                self.tell("after, from the handler")
                raise RuntimeError("bug")
            return super().on_receive(message)

    actor = Failing()
    actor.failure_sink = ResultMailbox(10)
    actor.tell("before")
    actor.tell("boom")
    actor.tell("later")
    with pytest.raises(pykka.ActorDeadError, match="Failing is dead"):
        actor.ask("query")
    assert messages(actor) == ["before"]
    assert not actor.alive
    ended = actor.failure_sink.take(timeout=WAIT)
    assert isinstance(ended, RunEnded)
    assert isinstance(ended.error, RuntimeError)


def test_a_stopped_actor_drops_messages():
    actor = Recorder()
    actor.tell("one")
    actor.stop()
    actor.tell("two")
    assert messages(actor) == ["one"]
    with pytest.raises(pykka.ActorDeadError):
        actor.ask("three")


def test_an_ask_that_kills_the_actor_raises_actor_dead():
    class FailsOnAsk(Recorder):
        def on_receive(self, message: Any) -> Any:
            raise RuntimeError("bug")

    actor = FailsOnAsk()
    with pytest.raises(pykka.ActorDeadError, match="failed handling 'query'"):
        actor.ask("query")
    assert not actor.alive


def test_ctrl_c_inside_a_handler_kills_the_actor_and_reaches_the_caller():
    class Interrupted(Recorder):
        def on_receive(self, message: Any) -> Any:
            if message == "ctrl-c":
                raise KeyboardInterrupt
            return super().on_receive(message)

    actor = Interrupted()
    actor.failure_sink = ResultMailbox(10)
    with pytest.raises(KeyboardInterrupt):
        actor.tell("ctrl-c")
    actor.tell("later")
    assert messages(actor) == []
    ended = actor.failure_sink.take(timeout=WAIT)
    assert isinstance(ended, RunEnded)
    assert isinstance(ended.error, KeyboardInterrupt)
