"""The ``pexen`` command (also ``python -m pexen``): collect tasks, run them, report.

``pexen run [options] TARGET...`` collects the tasks of each TARGET (a
package directory, a dotted module name, a ``.py`` file, or a directory of
executables), runs them on a pool and reports as it goes and at the end.
Exit codes: 0 every task ended well, 1 a task failed or was skipped, 2
interrupted (Ctrl-C, SIGTERM), 3 internal error, 4 usage error (also a
target that cannot be collected, or tasks that cannot run together), 5
nothing collected.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import subprocess
import sys
import threading
import traceback
import warnings
from collections.abc import Sequence
from fnmatch import fnmatchcase
from pathlib import Path
from types import FrameType, ModuleType
from typing import Any, NoReturn

from pexen import PexenWarning
from pexen.factory import (
    CollectionError,
    FilesystemFactory,
    ModTreeFactory,
    ModuleFactory,
    get_callpath,
    import_dotted,
    import_file,
    import_package_dir,
    set_callpath,
)
from pexen.reports import JUnitReport, RunObserver, TraceReport, task_name, write_graph
from pexen.reports.live import LiveDisplay
from pexen.sched import Sched, SchedulerError, meta, pool

__all__ = ["EXIT", "main"]

#: the exit codes, by meaning
EXIT = {"ok": 0, "failed": 1, "interrupted": 2, "internal": 3, "usage": 4, "empty": 5}


class UsageError(Exception):
    """Options or targets the command cannot use (exit 4)."""


class _Parser(argparse.ArgumentParser):
    """argparse, with usage errors exiting 4 (argparse's own is 2, here "interrupted")."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT["usage"], f"{self.prog}: error: {message}\n")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {text!r}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds: {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The parser of the ``pexen`` command."""
    parser = _Parser(
        prog="pexen",
        description="Run a tree of tests or tasks in parallel, by their dependencies and locks.",
        epilog="exit codes: 0 all ended well, 1 a task failed or was skipped, 2 interrupted, "
        "3 internal error, 4 usage error, 5 nothing collected",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    run = commands.add_parser(
        "run",
        help="collect tasks from targets and run them",
        description="Collect the tasks of each TARGET and run them. A TARGET is a package "
        "directory (its tasks and its subpackages'), a dotted module name, a .py file (its "
        "tagged functions) or any other directory (its executable files, each a task).",
        epilog=parser.epilog,
    )
    run.add_argument("targets", nargs="+", metavar="TARGET", help="what to collect tasks from")
    run.add_argument(
        "-j", "--workers", type=_positive_int, metavar="N",
        help="workers (default: the CPU count; on dask: the cluster's threads)",
    )  # fmt: skip
    run.add_argument(
        "--pool", choices=("thread", "process", "dask"), default="process",
        help="where tasks run (default: process)",
    )  # fmt: skip
    run.add_argument("--address", metavar="ADDR", help="the dask scheduler (tcp://host:port)")
    run.add_argument(
        "-k", dest="pattern", metavar="PATTERN",
        help="run only tasks whose callpath (joined with /) contains PATTERN or matches "
        "*PATTERN* (fnmatch), and the tasks providing what they require",
    )  # fmt: skip
    run.add_argument(
        "--timeout", type=_seconds, metavar="S", help="timeout for tasks that set none"
    )
    run.add_argument(
        "-x", "--exitfirst", action="store_true", help="cancel the run at the first failure"
    )
    run.add_argument(
        "--list", action="store_true", help="print the tasks collected (callpaths, requires, "
        "provides, locks) and run nothing",
    )  # fmt: skip
    run.add_argument("--junit", metavar="FILE", help="write a JUnit XML report")
    run.add_argument("--trace", metavar="FILE", help="write a Chrome trace-event JSON timeline")
    run.add_argument(
        "--graph", metavar="FILE",
        help="write the task graph (.dot/.gv DOT, .mmd/.md Mermaid) and run nothing",
    )  # fmt: skip
    loud = run.add_mutually_exclusive_group()
    loud.add_argument("-q", "--quiet", action="store_true", help="only the summary")
    loud.add_argument(
        "-v", "--verbose", action="store_true", help="a line per task, and failures' tracebacks"
    )
    return parser


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("pexen")
    except Exception:
        return "(version unknown)"


# -- collection ---------------------------------------------------------------


def _is_dotted(target: str) -> bool:
    return all(part.isidentifier() for part in target.split("."))


def _rooted(tasks: list[Any], root: list[str], strip: int = 0) -> list[Any]:
    """Make each task's callpath start with ``root`` (its first ``strip`` names replaced)."""
    for task in tasks:
        set_callpath(task, [*root, *get_callpath(task)[strip:]])
    return tasks


def _scripts_factory() -> FilesystemFactory:
    # captured, so that scripts do not write over the live display; a failed
    # script's output is in its CalledProcessError (shown with -v, in JUnit)
    return FilesystemFactory(stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def collect_target(target: str) -> list[Any]:
    """The tasks of one TARGET, each callpath starting with the target's own name.

    Raises :class:`UsageError` for a target that is none of the four kinds,
    :class:`CollectionError` for one whose code cannot be imported.
    """
    path = Path(target)
    if path.is_dir():
        if (path / "__init__.py").is_file():
            mod = import_package_dir(path)
            return _rooted(list(ModTreeFactory()(mod)), [path.resolve().name])
        found = list(_scripts_factory()(path))
        start = [p for p in Path(os.path.normpath(path)).parts if p not in ("/", ".")]
        return _rooted(found, [path.resolve().name], len(start))
    if path.suffix == ".py":
        if not path.is_file():
            raise UsageError(f"no such file: {target}")
        mod = import_file(path)
        return _rooted(list(ModuleFactory()(mod)), [mod.__name__])
    if path.exists():
        raise UsageError(f"not a directory, .py file or module: {target}")
    if not _is_dotted(target):
        raise UsageError(f"no such file, directory or module: {target}")
    try:
        mod = import_dotted(target)
    except CollectionError as exc:
        if exc.__cause__ is None:  # not found at all: the target is wrong
            raise UsageError(f"no such file, directory or module: {target}") from None
        raise
    return _rooted(list(_module_tasks(mod)), target.split("."))


def _module_tasks(mod: ModuleType) -> list[Any]:
    if hasattr(mod, "__path__"):
        return list(ModTreeFactory()(mod))
    return list(ModuleFactory()(mod))


def collect(targets: Sequence[str]) -> list[Any]:
    """Every target's tasks, in target order (a task collected twice counts once)."""
    seen: set[Any] = set()
    tasks = []
    for target in targets:
        for task in collect_target(target):
            if task not in seen:
                seen.add(task)
                tasks.append(task)
    return tasks


def matches(task: Any, pattern: str) -> bool:
    """Whether ``-k pattern`` selects ``task``."""
    name = "/".join(get_callpath(task))
    return pattern in name or fnmatchcase(name, f"*{pattern}*")


def select(tasks: Sequence[Any], pattern: str) -> list[Any]:
    """The tasks ``pattern`` selects, and what provides their requires (transitively),
    in collection order."""
    providers: dict[Any, list[Any]] = {}
    for task in tasks:
        for name in meta.get_provides(task):
            providers.setdefault(name, []).append(task)
    chosen = {task for task in tasks if matches(task, pattern)}
    todo = list(chosen)
    while todo:
        for name in meta.get_requires(todo.pop()):
            for provider in providers.get(name, ()):
                if provider not in chosen:
                    chosen.add(provider)
                    todo.append(provider)
    return [task for task in tasks if task in chosen]


def _listing(task: Any) -> str:
    fields = [task_name(task)]
    for field, value in (
        ("requires", meta.get_requires(task)),
        ("provides", meta.get_provides(task)),
        ("claims", meta.get_claims(task)),
        ("uses", meta.get_uses(task)),
    ):
        if value:
            fields.append(f"{field}: {', '.join(sorted(map(str, value)))}")
    timeout = meta.get_timeout(task)
    if timeout is not None:
        fields.append(f"timeout: {timeout:g}s")
    return "  ".join(fields)


# -- running ------------------------------------------------------------------


def _make_pool(args: argparse.Namespace) -> Any:
    if args.address and args.pool != "dask":
        raise UsageError("--address is for --pool dask")
    if args.pool == "thread":
        return pool.ThreadWorkerPool(workers=args.workers or os.cpu_count() or 1)
    if args.pool == "process":
        return pool.ProcessWorkerPool(workers=args.workers or os.cpu_count() or 1)
    dask_pool = getattr(pool, "DaskWorkerPool", None)
    if dask_pool is None:
        raise UsageError("--pool dask needs the extra pexen[dask]: pip install 'pexen[dask]'")
    try:
        return dask_pool(workers=args.workers, address=args.address)
    except ImportError as exc:
        raise UsageError(
            f"--pool dask needs the extra pexen[dask]: pip install 'pexen[dask]' ({exc})"
        ) from None
    except (OSError, TimeoutError) as exc:  # no cluster at --address, or none could start
        where = f"at {args.address}" if args.address else "on this machine"
        raise UsageError(f"--pool dask: no dask cluster {where}: {exc}") from None


class _Interrupt:
    """SIGINT/SIGTERM during a run: the first cancels it (the run ends with the
    results already there, reports written); a second one stops at once."""

    def __init__(self, sched: Sched, display: LiveDisplay) -> None:
        self.sched = sched
        self.display = display
        self.fired = False
        self.cancellers: list[threading.Thread] = []
        self._old: dict[int, Any] = {}

    def __enter__(self) -> _Interrupt:
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)
        for thread in self.cancellers:
            thread.join()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.fired:
            raise KeyboardInterrupt
        self.fired = True
        self.display.interrupted = True
        # cancel() takes the scheduler's locks, and printing the console's:
        # not from a signal handler, which may have interrupted this very
        # thread holding them
        thread = threading.Thread(target=self._cancel, name="pexen-cli-cancel", daemon=True)
        self.cancellers.append(thread)
        thread.start()

    def _cancel(self) -> None:
        if self.display.live_mode:  # someone at a terminal: say what happens
            self.display.console.print(
                "interrupted: cancelling the run (again to stop at once; running thread "
                "tasks cannot be stopped, the run waits for them)",
                style="yellow", highlight=False,
            )  # fmt: skip
        self.sched.cancel()


def _output(option: str, path: str | None) -> None:
    """Refuse an output file that cannot be written, before anything runs."""
    if path is None:
        return
    parent = Path(path).resolve().parent
    if not parent.is_dir():
        raise UsageError(f"{option} {path}: no such directory: {parent}")
    if Path(path).is_dir():
        raise UsageError(f"{option} {path}: is a directory")


def run(args: argparse.Namespace) -> int:
    """``pexen run``: the exit code."""
    for option, path in (("--junit", args.junit), ("--trace", args.trace), ("--graph", args.graph)):
        _output(option, path)
    if args.graph and (args.junit or args.trace or args.list):
        raise UsageError(
            "--graph writes the graph and runs nothing: not with --junit, --trace, --list"
        )
    if args.graph and Path(args.graph).suffix.lower() not in (".dot", ".gv", ".mmd", ".md"):
        raise UsageError(f"--graph {args.graph}: use .dot or .gv (DOT), .mmd or .md (Mermaid)")
    tasks = collect(args.targets)
    if not tasks:
        print(f"pexen: nothing collected from {' '.join(args.targets)}", file=sys.stderr)
        return EXIT["empty"]
    if args.pattern is not None:
        tasks = select(tasks, args.pattern)
        if not tasks:
            print(f"pexen: no task matches -k {args.pattern!r}", file=sys.stderr)
            return EXIT["empty"]
    if args.timeout is not None:
        for task in tasks:
            if meta.get_timeout(task) is None:
                meta.assign_val(task, timeout=args.timeout)
    if args.list:
        for task in tasks:
            print(_listing(task))
        print(f"{len(tasks)} tasks")
        return EXIT["ok"]
    if args.graph:
        write_graph(tasks, args.graph)
        print(f"{len(tasks)} tasks: graph written to {args.graph}")
        return EXIT["ok"]

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", PexenWarning)
        try:
            sched = Sched(tasks)
        except (SchedulerError, TypeError) as exc:
            raise UsageError(f"the tasks collected cannot run together: {exc}") from None
    verbosity = -1 if args.quiet else 1 if args.verbose else 0
    display = LiveDisplay(verbosity=verbosity, status=sched.status)
    if args.verbose:
        display.notes += [f"warning: {w.message}" for w in caught]
    observers: list[RunObserver] = [display]
    if args.junit:
        observers.append(JUnitReport(args.junit))
    if args.trace:
        observers.append(TraceReport(args.trace))
    the_pool = _make_pool(args)
    stopped_first = False
    interrupt = _Interrupt(sched, display)
    try:
        # the end-of-run warnings (skipped tasks, held locks) are the summary's
        with interrupt, warnings.catch_warnings():
            warnings.simplefilter("ignore", PexenWarning)
            try:
                for res in sched.run(the_pool, observers=observers):
                    if args.exitfirst and res.excinfo is not None and not stopped_first:
                        stopped_first = True
                        display.notes.append("stopped at the first failure (-x)")
                        sched.cancel()
            except KeyboardInterrupt:  # a second signal: the run's observers have ended it
                display.interrupted = True
    finally:
        close = getattr(the_pool, "close", None)
        if callable(close):
            close()
    if display.interrupted:
        return EXIT["interrupted"]
    if display.counts["FAILED"] or display.counts["SKIPPED"]:
        return EXIT["failed"]
    return EXIT["ok"]


# -- errors -------------------------------------------------------------------


def _user_frames(exc: BaseException) -> str:
    """The traceback of an exception raised by the user's code, without the
    frames of pexen and of the import machinery."""
    hidden = (
        str(Path(__file__).resolve().parent) + os.sep,
        os.path.dirname(importlib.__file__) + os.sep,
        "<frozen importlib",
    )
    frames = [
        f for f in traceback.extract_tb(exc.__traceback__) if not f.filename.startswith(hidden)
    ]
    text = "".join(traceback.format_list(frames))
    return text + "".join(traceback.format_exception_only(type(exc), exc))


def main(argv: Sequence[str] | None = None) -> int:
    """The ``pexen`` command: parse ``argv`` (default ``sys.argv[1:]``), run; the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT["usage"]
    # SIGTERM as Ctrl-C, also while collecting (a run installs its own handlers)
    old_term = signal.signal(signal.SIGTERM, _terminated)
    try:
        return run(args)
    except UsageError as exc:
        print(f"pexen: error: {exc}", file=sys.stderr)
        return EXIT["usage"]
    except CollectionError as exc:
        cause = exc.__cause__
        if cause is not None:
            print(_user_frames(cause), end="", file=sys.stderr)
        print(f"pexen: error: cannot collect {exc}", file=sys.stderr)
        return EXIT["usage"]
    except KeyboardInterrupt:
        print("pexen: interrupted", file=sys.stderr)
        return EXIT["interrupted"]
    except Exception:
        traceback.print_exc()
        print("pexen: internal error (a bug of pexen: please report it)", file=sys.stderr)
        return EXIT["internal"]
    finally:
        signal.signal(signal.SIGTERM, old_term)


def _terminated(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt
