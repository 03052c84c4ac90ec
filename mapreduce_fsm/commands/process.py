"""Running one program in its own process group, with capped output, timeout and cancellation.

The program starts a new session (`start_new_session=True`), so its process group
holds it and every descendant that does not leave on purpose. On timeout or
cancellation the whole group gets SIGTERM, then SIGKILL after the grace period.
Once the program has exited (or been killed), the pipes are read until EOF for at
most `PIPE_DRAIN_SECS`: a background process still holding them cannot block the
step. Background processes left behind by a program that exits on its own are not
killed (that is how a step starts a server for later steps).

The program is started with `subprocess.Popen` and watched from the running event
loop: its pipes and (on Linux 5.3+) a pidfd are loop readers, so a step costs no
thread and none of asyncio's subprocess transport machinery, which for trivial steps
was most of the engine's per-item cost. Without pidfds a small thread waits for the
exit. Nothing global is changed: no child watcher, no signal handler.

While a `GroupRecorder` is set in `running_groups` (the coordinator sets the job's for
the length of a run), every program's group is reported to it as it starts and ends,
so a later run can end the groups of a runner that was killed (`state.process_groups`).
A step does not get a parent-death signal (PR_SET_PDEATHSIG): posix_spawn cannot set
it, and the only way from Python, Popen with a `preexec_fn` calling prctl, forces a
fork in Python: measured at 9-10 ms per start of /bin/true against 1.2 ms for
posix_spawn or plain Popen. It would also reach the shell alone, not its group.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import errno
import functools
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import attrs

from mapreduce_fsm.commands.groups import (
    GroupRecorder,
    kill_group,
)

PIPE_DRAIN_SECS = 0.5
_READ_CHUNK = 65536

# Gets the program's output as it is read: ("stdout" or "stderr", the bytes read), the
# whole of it, also what the cap drops from the outcome.
OutputCallback = Callable[[str, bytes], None]


running_groups: contextvars.ContextVar[GroupRecorder | None] = contextvars.ContextVar(
    "running_groups", default=None)


@attrs.frozen(kw_only=True)
class ProcessOutcome:
    """What a program did. `start_error` is set (and nothing else) when it could not start."""

    exit_code: int | None = None  # negative: killed by that signal
    stdout: str = ""  # capped, with a "[... N bytes dropped]" note when truncated
    stderr: str = ""
    raw_stdout: str = ""  # capped, without the note
    timed_out: bool = False
    truncated: bool = False
    stdout_dropped: int = 0  # bytes of stdout beyond the cap
    stdout_non_utf8_at: int | None = None  # the first byte of stdout that is not UTF-8
    duration_secs: float = 0.0
    start_error: str | None = None
    missing_program: bool = False  # the start error is that argv[0] was not found


@attrs.define
class _CappedBuffer:
    """Keeps the first `limit` bytes of a stream and counts the rest."""

    limit: int
    kept: bytearray = attrs.field(factory=bytearray)
    dropped: int = 0

    def add(self, chunk: bytes) -> None:
        room = max(self.limit - len(self.kept), 0)
        self.kept += chunk[:room]
        self.dropped += max(len(chunk) - room, 0)

    def text(self) -> str:
        return self.kept.decode("utf-8", errors="replace")

    def first_non_utf8_byte(self) -> int | None:
        """The offset of the first byte that is not UTF-8 (shown as U+FFFD), or None."""
        try:
            self.kept.decode("utf-8")
        except UnicodeDecodeError as error:
            return error.start
        return None

    def noted_text(self) -> str:
        if not self.dropped:
            return self.text()
        return f"{self.text()}\n[... {self.dropped} bytes dropped]\n"


# Python ignores these; a child must start with them at their defaults, as Popen does.
_PYTHON_IGNORED = tuple(
    getattr(signal, name) for name in ("SIGPIPE", "SIGXFZ", "SIGXFSZ") if hasattr(signal, name))


@functools.cache
def _signals_to_default() -> tuple[int, ...]:
    """The signals a posix_spawned child gets at their defaults: all but those this process
    found ignored (`nohup` ignores SIGHUP: children keep that, as with Popen), Python's own
    ignored ones included. A child gets every other signal at its default anyway (handlers
    do not survive exec), but glibc's posix_spawn makes sure of it by asking each signal's
    disposition and then setting it, unless the signal is named here: naming them halves the
    child's ~120 signal system calls before exec. Computed once: `getsignal` is slow."""
    inherited_ignored = {
        number for number in signal.valid_signals()
        if signal.getsignal(number) is signal.SIG_IGN and number not in _PYTHON_IGNORED
    }
    unchangeable = {signal.SIGKILL, signal.SIGSTOP}
    return tuple(sorted(signal.valid_signals() - unchangeable - inherited_ignored))


def _is_current_directory(cwd: Path) -> bool:
    try:
        return os.fspath(cwd) == os.getcwd()
    except OSError:  # our own working directory was deleted
        return False


def _spawn(argv: Sequence[str], cwd: Path, env: Mapping[bytes, bytes],
           stdout: int, stderr: int) -> tuple[int, subprocess.Popen[bytes] | None]:
    """Start `argv` in a new session, stdin from /dev/null; its pid (and Popen, if used).

    `os.posix_spawn` when it can do the job (the program found on an absolute path and
    the process already in `cwd`: posix_spawn cannot change directory): it is done in C
    and is about twice as cheap for the engine as Popen, which runs the rest of the time.
    Raises OSError when the program cannot start.
    """
    executable = _program_path(argv[0], env.get(b"PATH"))
    if os.path.isabs(executable) and _is_current_directory(cwd):
        pid = os.posix_spawn(executable, list(argv), env, setsid=True,
                             setsigdef=_signals_to_default(), file_actions=[
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_DUP2, stdout, 1),
            (os.POSIX_SPAWN_DUP2, stderr, 2),
        ])
        return pid, None
    process = subprocess.Popen(
        argv, executable=executable, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
        stdout=stdout, stderr=stderr, start_new_session=True,
    )
    return process.pid, process


class _Child:
    """A started program: its output read into capped buffers, its exit reaped, from the loop.

    `exited` resolves when the program has ended (`returncode` is then set, negative for
    a signal), `pipes_closed` when both pipes reached EOF. `close()` stops watching and
    closes every descriptor; it is safe to call at any point, more than once. `on_output`,
    if given, gets every chunk as it is read; if it raises, it is not called again and
    `output_error` keeps the error for `run_process` to raise once the program ended.
    """

    def __init__(self, argv: Sequence[str], cwd: Path, env: Mapping[bytes, bytes], limit: int,
                 loop: asyncio.AbstractEventLoop, on_output: OutputCallback | None) -> None:
        out_read, out_write = os.pipe2(os.O_CLOEXEC)
        err_read, err_write = os.pipe2(os.O_CLOEXEC)
        try:
            self.pid, self._process = _spawn(argv, cwd, env, out_write, err_write)
        except BaseException:
            for fd in (out_read, err_read):
                os.close(fd)
            raise
        finally:
            os.close(out_write)
            os.close(err_write)
        self.loop = loop
        self.returncode: int | None = None
        self.exited: asyncio.Future[None] = loop.create_future()
        self.pipes_closed: asyncio.Future[None] = loop.create_future()
        self.stdout, self.stderr = _CappedBuffer(limit), _CappedBuffer(limit)
        self.buffers = {out_read: self.stdout, err_read: self.stderr}
        self.stream_names = {out_read: "stdout", err_read: "stderr"}
        self.on_output = on_output
        self.output_error: Exception | None = None  # what on_output raised, if it did
        self._open_pipes = {out_read, err_read}
        for fd in self._open_pipes:
            os.set_blocking(fd, False)
            loop.add_reader(fd, self._read, fd)
        self._pidfd: int | None = None
        try:
            self._pidfd = os.pidfd_open(self.pid)
        except (AttributeError, OSError):  # no pidfds here: a thread waits instead
            threading.Thread(target=self._wait_in_thread, daemon=True,
                             name=f"mapreduce-fsm-wait-{self.pid}").start()
        else:
            loop.add_reader(self._pidfd, self._reap)

    def _read(self, fd: int) -> None:
        try:
            chunk = os.read(fd, _READ_CHUNK)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if chunk:
            self.buffers[fd].add(chunk)
            if self.on_output is not None:
                try:
                    self.on_output(self.stream_names[fd], chunk)
                except Exception as error:  # e.g. a closed stderr: run_process raises it
                    self.on_output, self.output_error = None, error
            return
        self._stop_reading(fd)
        if not self._open_pipes and not self.pipes_closed.done():
            self.pipes_closed.set_result(None)

    def _stop_reading(self, fd: int) -> None:
        self.loop.remove_reader(fd)
        os.close(fd)
        self._open_pipes.discard(fd)

    def _reap(self) -> None:
        self._stop_watching_exit()
        returncode = _wait_exit_code(self.pid)  # the pidfd said it ended: this does not block
        self._set_exited(255 if returncode is None else returncode)

    def _wait_in_thread(self) -> None:
        returncode = _wait_exit_code(self.pid)  # blocks until it ends
        with contextlib.suppress(RuntimeError):  # the loop is already closed
            self.loop.call_soon_threadsafe(
                self._set_exited, 255 if returncode is None else returncode)

    def _stop_watching_exit(self) -> None:
        if self._pidfd is not None:
            self.loop.remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = None

    def _set_exited(self, returncode: int) -> None:
        self.returncode = returncode
        if self._process is not None:
            self._process.returncode = returncode  # reaped: Popen has nothing left to do
        if not self.exited.done():
            self.exited.set_result(None)

    def close(self) -> None:
        if self._pidfd is not None:
            self._stop_watching_exit()
            if self.returncode is None:  # not reaped yet: reap it now if it has ended
                returncode = _wait_exit_code(self.pid, os.WNOHANG)
                if returncode is not None:
                    self._set_exited(returncode)
        for fd in list(self._open_pipes):
            self._stop_reading(fd)


def _wait_exit_code(pid: int, options: int = 0) -> int | None:
    """Reap `pid`: its exit code (negative: the signal), None while it runs (WNOHANG).

    A child someone else's `waitpid(-1)` reaped first reports 255, as asyncio's do.
    """
    try:
        reaped, status = os.waitpid(pid, options)
    except ChildProcessError:
        return 255
    return os.waitstatus_to_exitcode(status) if reaped else None


_program_paths: dict[tuple[str, bytes | None], str] = {}


def _program_path(program: str, search_path: bytes | None) -> str:
    """Where `program` is on `search_path` (the child's PATH), remembered once found.

    Popen searches PATH itself, but in Python, on every start: for trivial steps a
    measurable cost. A program not found is looked up again next time.
    """
    if os.sep in program:
        return program
    key = (program, search_path)
    found = _program_paths.get(key)
    if found is None:
        path = os.fsdecode(search_path) if search_path is not None else os.defpath
        found = shutil.which(program, path=path)
        if found is None or not os.path.isabs(found):
            # Not found: Popen's own search fails the same way. Found through a relative
            # PATH entry: that is relative to the child's working directory, so Popen decides.
            return program
        _program_paths[key] = found
    return found


async def run_process(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[bytes, bytes],
    timeout: float | None,
    max_output_bytes: int,
    kill_grace_secs: float,
    on_output: OutputCallback | None = None,
) -> ProcessOutcome:
    """Run `argv` to completion or timeout; on cancellation kill its group and re-raise.

    `on_output(stream, chunk)` is called from the event loop as output is read, until the
    pipes are closed or drained (see the module docstring); it must not raise.
    """
    started = time.monotonic()
    try:
        child = _Child(argv, cwd, env, max_output_bytes, asyncio.get_running_loop(), on_output)
    except ValueError:  # "embedded null byte": no program can be given a NUL in a string
        return ProcessOutcome(start_error=(
            f"cannot start {argv[0]!r}: its command line, environment or working directory "
            "holds a NUL byte (\\0), which a program cannot receive"))
    except OSError as error:
        if not cwd.is_dir():
            return ProcessOutcome(start_error=f"working directory {str(cwd)!r} does not exist")
        if isinstance(error, FileNotFoundError):
            return ProcessOutcome(
                start_error=f"program {argv[0]!r} not found", missing_program=True)
        reason = error.strerror or str(error)
        if error.errno == errno.E2BIG:
            reason = _too_big(argv, env)
        return ProcessOutcome(start_error=f"cannot start {argv[0]!r}: {reason}")
    timed_out = False
    recorder = running_groups.get()
    try:
        if recorder is not None:
            recorder.started(child.pid)
        done, _ = await asyncio.wait({child.exited}, timeout=timeout)
        if not done:
            timed_out = True
            await kill_group(child.pid, kill_grace_secs)
            await child.exited
        if not child.pipes_closed.done():
            await asyncio.wait({child.pipes_closed}, timeout=PIPE_DRAIN_SECS)
    except BaseException:  # cancelled, or its group could not be recorded
        await asyncio.shield(_kill_after_cancel(child, kill_grace_secs))
        raise
    finally:
        child.close()
        if recorder is not None:
            recorder.ended(child.pid)
    if child.output_error is not None:  # the program ended (and was reaped) first
        raise child.output_error
    out, err = child.stdout, child.stderr
    return ProcessOutcome(
        exit_code=child.returncode,
        stdout=out.noted_text(),
        stderr=err.noted_text(),
        raw_stdout=out.text(),
        timed_out=timed_out,
        truncated=bool(out.dropped or err.dropped),
        stdout_dropped=out.dropped,
        stdout_non_utf8_at=out.first_non_utf8_byte(),
        duration_secs=time.monotonic() - started,
    )


async def _kill_after_cancel(child: _Child, kill_grace_secs: float) -> None:
    await kill_group(child.pid, kill_grace_secs)
    await asyncio.wait({child.exited}, timeout=kill_grace_secs)


def _too_big(argv: Sequence[str], env: Mapping[bytes, bytes]) -> str:
    """Which limit E2BIG hit: one string over 128 KiB (MAX_ARG_STRLEN), or all of them
    together over the system's ARG_MAX."""
    strings = [os.fsencode(arg) for arg in argv]
    strings += [name + b"=" + value for name, value in env.items()]
    longest = max(strings, key=len)
    if len(longest) + 1 > 128 * 1024:
        name = longest.split(b"=", 1)[0].decode(errors="replace")
        what = "an argument" if longest in strings[:len(argv)] else f"the variable {name}"
        return (f"{what} is {len(longest) + 1} bytes; Linux limits one argument or "
                "environment string to 128 KiB (MAX_ARG_STRLEN)")
    total = sum(len(string) + 1 for string in strings)
    return (f"its arguments and environment are {total} bytes together, more than the "
            f"system allows (ARG_MAX: {os.sysconf('SC_ARG_MAX')} bytes)")
