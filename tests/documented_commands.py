# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""Find the shell commands in the project's Markdown files, and run a list of them in one interpreter.

Two halves, used by ``tests/test_documented_commands.py``:

* :func:`extract_commands` reads the fenced code blocks of a Markdown file (```` ```bash ````, ```` ```sh ````,
  ```` ```console ```` and plain ```` ``` ```` blocks; ```` ```text ````, ```` ```python ````, ```` ```json ```` ... are
  output or code, not commands), joins backslash continuations and lines inside an open quote, strips trailing
  ``# comments`` (outside quotes), keeps only the ``$ `` lines of a block that shows prompts (the rest is output) and
  returns the lines whose program (after ``VAR=value`` prefixes) is one of :data:`PROGRAMS`.
* Run as a script (``python tests/documented_commands.py PLAN.json``), it executes the commands of a plan one after
  another **in this one interpreter**, as ``python`` would: ``-m module`` through ``runpy.run_module``, ``FILE``
  through ``runpy.run_path`` and ``-c CODE`` through ``exec``, with ``sys.argv`` set to the words bash makes of the
  command (bash itself expands them: quotes, ``~``, ``$HOME``), in the command's working directory, with fd 1 and 2
  sent to the command's log file. One
  interpreter for a whole group saves the ~10 s of imports a fresh ``python`` pays per command on a busy 2-core
  machine. It writes one JSON line per command to the plan's ``results`` file: the exit status (``SystemExit`` code,
  or 1 with the traceback in the log for an exception) and the seconds it took.

Nothing here is imported by the library; the script imports only the standard library before running a command.
"""

from __future__ import annotations

import json
import os
import re
import runpy
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

#: programs whose lines count as documented commands
PROGRAMS = ("python", "python3", "torchrun", "pip", "curl", "monailabel", "twine", "huggingface-cli")
#: fence languages that hold commands (the empty string is a plain fence)
SHELL_FENCES = ("", "bash", "sh", "shell", "console")

_FENCE = re.compile(r"^(\s*)```(\S*)\s*$")
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=\S*$")


@dataclass(frozen=True)
class DocCommand:
    """One command found in a Markdown file.

    Attributes:
        source: the Markdown file, relative to the repository root.
        line: the 1-based line of the command's first line.
        text: the command, continuations joined, comment stripped, whitespace runs collapsed to one space.
    """

    source: str
    line: int
    text: str


def _open_quote(text: str) -> str | None:
    """The quote character left open at the end of ``text`` (shell rules: backslash escapes outside single quotes)."""
    quote = None
    escaped = False
    for ch in text:
        if escaped:
            escaped = False
        elif ch == "\\" and quote != "'":
            escaped = True
        elif quote is None and ch in "'\"":
            quote = ch
        elif ch == quote:
            quote = None
    return quote


def strip_comment(text: str) -> str:
    """``text`` without a trailing shell comment: a ``#`` at the start or after whitespace, outside quotes."""
    quote = None
    escaped = False
    for i, ch in enumerate(text):
        if escaped:
            escaped = False
        elif ch == "\\" and quote != "'":
            escaped = True
        elif quote is None and ch in "'\"":
            quote = ch
        elif ch == quote:
            quote = None
        elif ch == "#" and quote is None and (i == 0 or text[i - 1].isspace()):
            return text[:i].rstrip()
    return text.rstrip()


def _blocks(markdown: str) -> list[tuple[str, int, list[str]]]:
    """``(language, first line number, lines)`` of every fenced block."""
    blocks, current, language, start = [], None, "", 0
    for number, line in enumerate(markdown.splitlines(), start=1):
        match = _FENCE.match(line)
        if current is None:
            if match:
                current, language, start = [], match.group(2).lower(), number + 1
        elif match and not match.group(2):
            blocks.append((language, start, current))
            current = None
        else:
            current.append(line)
    return blocks


def _logical_lines(lines: list[str], start: int) -> list[tuple[int, str]]:
    """Join backslash continuations and lines inside an open quote; strip comments."""
    out: list[tuple[int, str]] = []
    pending, first = "", 0
    for offset, raw in enumerate(lines):
        in_quote = bool(pending) and _open_quote(pending) is not None
        line = raw.strip() if in_quote else strip_comment(raw.strip())
        if not pending:
            first = start + offset
            if not line:
                continue
        joined = f"{pending}\n{line}" if pending and _open_quote(pending) else f"{pending} {line}".strip()
        if _open_quote(joined):
            pending = joined
            continue
        if joined.endswith("\\"):
            pending = joined[:-1].rstrip()
            continue
        pending = ""
        text = joined.strip()
        if text:
            out.append((first, text))
    if pending:
        out.append((first, pending))
    return out


def program_of(text: str) -> str:
    """The program a command line runs: its first word after any ``VAR=value`` prefixes."""
    for word in text.split():
        if not _ASSIGNMENT.match(word):
            return word
    return ""


def normalise(text: str) -> str:
    """``text`` with every whitespace run (newlines of a multi-line quote included) collapsed to one space."""
    return " ".join(text.split())


def extract_commands(path: Path, root: Path) -> list[DocCommand]:
    """Every documented command of the Markdown file ``path`` (see the module docstring)."""
    commands = []
    for language, start, lines in _blocks(path.read_text(encoding="utf-8")):
        if language not in SHELL_FENCES:
            continue
        prompts = [i for i, line in enumerate(lines) if line.lstrip().startswith("$ ")]
        if prompts:  # a shown session: the "$ " lines are commands, the rest is their output
            lines = [lines[i].lstrip()[2:] if i in prompts else "" for i in range(len(lines))]
        for number, text in _logical_lines(lines, start):
            if program_of(text) in PROGRAMS:
                commands.append(DocCommand(str(path.relative_to(root)), number, normalise(text)))
    return commands


def shell_words(command: str, cwd: Path, env: dict[str, str]) -> list[str]:
    """The argument words bash makes of ``command`` (quote removal, ``~`` and ``$VAR`` expansion), program included."""
    result = subprocess.run(
        ["bash", "-c", f"printf '%s\\0' {command}"], cwd=cwd, env=env, capture_output=True, text=True, check=True
    )
    return result.stdout.split("\0")[:-1]


def _run_one(words: list[str]) -> int:
    """Run ``python <words>`` in this interpreter; the exit status."""
    if not words or words[0] not in ("python", "python3"):
        raise ValueError(f"only python commands run in-process, got {words[:1]}")
    args = words[1:]
    saved_argv, saved_path = list(sys.argv), list(sys.path)
    try:
        if args[0] == "-c":
            sys.argv = ["-c", *args[2:]]
            sys.path.insert(0, "")
            exec(compile(args[1], "<string>", "exec"), {"__name__": "__main__"})
        elif args[0] == "-m":
            sys.argv = [args[1], *args[2:]]
            sys.path.insert(0, os.getcwd())
            runpy.run_module(args[1], run_name="__main__", alter_sys=True)
        else:
            script = os.path.abspath(args[0])
            sys.argv = [script, *args[1:]]
            sys.path.insert(0, os.path.dirname(script))
            runpy.run_path(script, run_name="__main__")
        return 0
    except SystemExit as stop:
        code = stop.code
        if code is None:
            return 0
        if isinstance(code, int):
            return code
        print(code, file=sys.stderr)
        return 1
    except BaseException:  # the command failed: its traceback is its output
        traceback.print_exc()
        return 1
    finally:
        sys.argv, sys.path[:] = saved_argv, saved_path


def run_plan(plan_file: Path) -> None:
    """Run every step of the plan in order; append one JSON result line per step to ``plan["results"]``."""
    plan = json.loads(plan_file.read_text())
    start_dir = os.getcwd()
    for step in plan["steps"]:
        log = Path(step["log"])
        sys.stdout.flush()
        sys.stderr.flush()
        saved = os.dup(1), os.dup(2)
        began = time.perf_counter()
        with open(log, "w") as out:
            os.dup2(out.fileno(), 1)
            os.dup2(out.fileno(), 2)
            try:
                os.chdir(step["cwd"])
                code = _run_one(step["words"])
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os.dup2(saved[0], 1)
                os.dup2(saved[1], 2)
                os.close(saved[0])
                os.close(saved[1])
                os.chdir(start_dir)
        seconds = time.perf_counter() - began
        with open(plan["results"], "a") as results:
            results.write(json.dumps({"id": step["id"], "returncode": code, "seconds": round(seconds, 2)}) + "\n")


if __name__ == "__main__":
    run_plan(Path(sys.argv[1]))
