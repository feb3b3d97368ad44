"""Running the ``pexen`` command in tests: in a subprocess, through a pipe or a pty.

The command runs as ``python -m pexen`` with this tree first on the path (the
installed console script may point at another checkout); every process it
starts carries a tag in its environment, so that a test can check none of
them outlives the command.
"""

from __future__ import annotations

import fcntl
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent

#: rich looks at these to decide whether it writes to a terminal
TERMINAL_ENV = ("FORCE_COLOR", "NO_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "COLUMNS", "LINES")

COMMAND_TIMEOUT = 60


def command_env(tag: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in TERMINAL_ENV}
    env["PYTHONPATH"] = os.pathsep.join(p for p in [str(ROOT), env.get("PYTHONPATH")] if p)
    env["PEXEN_CLI_RUN"] = tag
    env.update(extra)
    return env


def tagged_processes(tag: str) -> list[tuple[int, str]]:
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        try:
            if proc.environ().get("PEXEN_CLI_RUN") == tag:
                found.append((proc.info["pid"], " ".join(proc.info["cmdline"] or [])))
        except (psutil.Error, OSError):
            continue
    return found


def assert_none_left(tag: str) -> None:
    deadline = time.monotonic() + 3
    while (left := tagged_processes(tag)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not left, f"processes left behind by the command: {left}"


@dataclass
class Done:
    returncode: int
    stdout: str
    stderr: str

    @property
    def lines(self) -> list[str]:
        return self.stdout.splitlines()

    def __str__(self) -> str:
        return f"exit {self.returncode}\nstdout:\n{self.stdout}\nstderr:\n{self.stderr}"


def pexen(*args: str, cwd: Path = ROOT, prefix: tuple[str, ...] = (), **env: str) -> Done:
    """Run ``python -m pexen ARGS`` through pipes; its exit code and output.

    ``prefix``: interpreter arguments replacing ``-m pexen`` (e.g. ``-c CODE``).
    """
    tag = uuid.uuid4().hex
    done = subprocess.run(
        [sys.executable, *(prefix or ("-m", "pexen")), *args],
        cwd=cwd, env=command_env(tag, **env), capture_output=True, text=True,
        timeout=COMMAND_TIMEOUT,
    )  # fmt: skip
    assert_none_left(tag)
    return Done(done.returncode, done.stdout, done.stderr)


def start_pexen(*args: str, cwd: Path = ROOT, **env: str) -> tuple[subprocess.Popen[str], str]:
    """Start ``python -m pexen ARGS`` with piped output; the process and its tag."""
    tag = uuid.uuid4().hex
    proc = subprocess.Popen(
        [sys.executable, "-m", "pexen", *args],
        cwd=cwd, env=command_env(tag, **env), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    return proc, tag


def pexen_on_pty(
    *args: str,
    cwd: Path = ROOT,
    columns: int = 120,
    before_reading: Callable[[int], None] | None = None,
    **env: str,
) -> Done:
    """Run ``python -m pexen ARGS`` with a pseudo-terminal as its stdin, stdout and
    stderr (``columns`` wide); what it wrote there, raw, as text.

    ``before_reading(fd)``, if given, is called with the terminal's master side
    once the command started (to type into it: ``os.write(fd, b"\\x03")``).
    """
    tag = uuid.uuid4().hex
    environ = command_env(tag, TERM="xterm-256color", **env)
    pid, fd = pty.fork()
    if pid == 0:  # the child: its controlling terminal is the pty
        try:
            os.chdir(cwd)
            os.execve(sys.executable, [sys.executable, "-m", "pexen", *args], environ)
        finally:
            os._exit(127)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    if before_reading is not None:
        try:
            before_reading(fd)
        except BaseException:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            os.close(fd)
            raise
    out = bytearray()
    deadline = time.monotonic() + COMMAND_TIMEOUT
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], deadline - time.monotonic())
            if not ready:
                break
            try:
                data = os.read(fd, 65536)
            except OSError:  # EIO: the child closed its side
                break
            if not data:
                break
            out += data
    finally:
        os.close(fd)
        _, status = os.waitpid(pid, 0)
    assert_none_left(tag)
    return Done(os.waitstatus_to_exitcode(status), out.decode(errors="replace"), "")


def write_tree(root: Path, files: dict[str, str], executable: tuple[str, ...] = ()) -> Path:
    """Write ``files`` (relative path: text) under ``root``; ``executable`` ones +x."""
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        if rel in executable:
            path.chmod(0o755)
    return root
