"""Run `dsarctl` in a real pseudo-terminal of a given size, as a person at a terminal would.

The child gets a new session with the pty as its controlling terminal, so a Ctrl-C typed into it (the byte
0x03) reaches it as SIGINT from the terminal driver, as it does for a person. Echo is off unless asked for:
what the test reads is exactly what dsarctl wrote (with the driver's CRLF turned back into LF and colours
stripped); with `echo=True` it also holds what was typed, where a person would see it.
"""

from __future__ import annotations

import fcntl
import os
import re
import select
import struct
import subprocess
import sys
import termios
import time
from dataclasses import dataclass

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@dataclass
class Screen:
    code: int
    text: str  # everything written to the terminal (stdout and stderr, unless stderr was piped)
    err: str  # stderr, when it was a pipe

    def lines(self) -> list[str]:
        """The lines, trailing spaces removed (rich pads table cells to the column's width)."""
        return [line.rstrip() for line in self.text.split("\n")]


def interruptible() -> None:
    """In the child, before exec: SIGINT as a shell leaves it for a command in the foreground. A test run
    started in the background of a script (`cmd &` without job control, as some CI runners do) has SIGINT
    ignored, every child inherits that, and Python then installs no KeyboardInterrupt handler at all:
    Ctrl-C would do nothing, whatever dsarctl does with it."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run(args: list[str], *, cols: int = 80, rows: int = 40, env: dict | None = None,
        steps: tuple = (), stderr_pipe: bool = False, python: str | None = None, timeout: float = 60,
        cwd=None, echo: bool = False) -> Screen:
    """Run `dsarctl ARGS` (or `python -c PYTHON ARGS`) on a pty of `cols` x `rows`, in `cwd`. `steps` are
    (text to wait for, bytes to type) pairs, played in order."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    attrs = termios.tcgetattr(slave)
    if not echo:
        attrs[3] &= ~termios.ECHO  # lflag: what is typed is not written back
    termios.tcsetattr(slave, termios.TCSANOW, attrs)
    environment = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    # PYTHONPATH: the dsarctl this test imported (a checkout that is not the installed one)
    environment.update({"TERM": "xterm", "NO_COLOR": "1", "PYTHONPATH": os.pathsep.join(sys.path)}, **(env or {}))
    command = [sys.executable, "-c", python] if python else [sys.executable, "-m", "dsarctl"]

    def controlling_terminal() -> None:
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)
        interruptible()

    proc = subprocess.Popen([*command, *args], stdin=slave, stdout=slave,
                            stderr=subprocess.PIPE if stderr_pipe else slave, env=environment,
                            preexec_fn=controlling_terminal, close_fds=True, cwd=cwd)
    os.close(slave)
    out = b""
    pending = list(steps)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: every writer of the terminal has closed it
                    break
                if not chunk:
                    break
                out += chunk
            elif proc.poll() is not None:
                break
            if pending and pending[0][0].encode() in out.replace(b"\r\n", b"\n"):
                os.write(master, pending.pop(0)[1])
        code = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        err = proc.stderr.read().decode() if stderr_pipe else ""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stderr:
            proc.stderr.close()
        os.close(master)
    text = ANSI.sub("", out.decode()).replace("\r\n", "\n")
    return Screen(code, text, err)
