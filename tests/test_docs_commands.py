"""Every ``recompra ...`` command quoted in README.md and docs/ exists with its options.

Commands are taken from fenced code blocks (lines starting with ``recompra``) and from
inline code. The command path must lead to a real (sub)command whose ``--help`` succeeds,
and every ``--option`` / ``-o`` quoted after it must be one of that command's options.
Quoting conventions the docs use: ``a|b`` alternatives (each is checked), ``[...]``
optional parts, ``...`` for "any sub-command", ``\\|`` inside Markdown tables.
"""

from __future__ import annotations

import re
import shlex
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from recompra.cli.main import app

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
_FENCE = re.compile(r"```[^\n]*\n(.*?)```", re.DOTALL)
_INLINE = re.compile(r"`([^`\n]*(?:\n[^`\n]*)?)`")


def quoted_commands(text: str) -> list[str]:
    """The ``recompra`` command lines quoted in a Markdown text."""
    commands = []
    for block in _FENCE.findall(text):
        for line in block.splitlines():
            line = line.split("#", 1)[0].strip().removeprefix("$ ")
            if line.startswith("recompra "):
                commands.append(line)
    prose = _FENCE.sub("", text)
    for code in _INLINE.findall(prose):
        code = " ".join(code.split())
        if code.startswith("recompra "):
            commands.append(code)
    return [c.replace("\\|", "|") for c in commands]


def _is_group(command: Any) -> bool:
    # Typer builds on its own copy of click, so no isinstance against click.Group.
    return hasattr(command, "commands")


def _root() -> Any:
    root = typer.main.get_command(app)
    assert _is_group(root)
    return root


@cache
def _help_fails(path: tuple[str, ...]) -> str | None:
    result = CliRunner().invoke(app, [*path, "--help"])
    return None if result.exit_code == 0 else result.output


def _alternatives(token: str) -> list[str]:
    return [t for t in token.strip("[]").split("|") if t]


def check_command(root: Any, line: str) -> list[str]:
    """Return what is wrong with one quoted command line (nothing when it is right)."""
    tokens = shlex.split(line)[1:]  # quoted values are one token
    commands: list[tuple[list[str], Any]] = [([], root)]
    rest = tokens
    while rest and all(_is_group(c) for _, c in commands):
        token = rest[0]
        if token == "...":
            return []
        if token.startswith("-"):
            break
        found = []
        for path, group in commands:
            for name in _alternatives(token):
                sub = group.commands.get(name)
                if sub is None:
                    return [f"{line!r}: no command {' '.join(['recompra', *path, name])!r}"]
                found.append(([*path, name], sub))
        commands, rest = found, rest[1:]
    problems = []
    leaves = [(path, command) for path, command in commands if not _is_group(command)]
    problems += [
        f"{line!r}: {' '.join(p)!r} needs a sub-command" for p, c in commands if _is_group(c)
    ]
    # With alternatives (``upgrade|check|revision -m MSG``) an option may belong to one.
    options = {
        opt: param
        for _, command in leaves
        for param in command.params
        if param.param_type_name == "option"
        for opt in (*param.opts, *param.secondary_opts)
    }
    positional = 0
    takes_value = False
    for token in rest:
        if takes_value:
            takes_value = False
            continue
        name = token.strip("[]").split("=", 1)[0]
        if token.strip("[]") == "...":
            continue
        if not name.startswith("-"):
            positional += 1
            continue
        for option in _alternatives(name):
            if option not in options:
                problems.append(f"{line!r}: no option {option}")
            elif not options[option].is_flag and "=" not in token:
                takes_value = True
    for path, command in leaves:
        arguments = [p for p in command.params if p.param_type_name == "argument"]
        unlimited = any(p.nargs == -1 for p in arguments)
        if positional > len(arguments) and not unlimited:
            problems.append(f"{line!r}: {' '.join(path)!r} takes {len(arguments)} arguments")
        failure = _help_fails(tuple(path))
        if failure is not None:
            problems.append(f"{line!r}: --help failed: {failure}")
    return problems


def test_quoted_commands_are_found() -> None:
    text = (
        "Run `recompra analyze\n--as-of 2024-01-01` or:\n```bash\n"
        "$ recompra keys list   # all keys\n```\n| `recompra db upgrade\\|check` |"
    )
    assert quoted_commands(text) == [
        "recompra keys list",
        "recompra analyze --as-of 2024-01-01",
        "recompra db upgrade|check",
    ]


def test_check_command_catches_drift() -> None:
    root = _root()
    assert check_command(root, "recompra recommend refresh --segments --k 5") == []
    assert check_command(root, "recompra db upgrade|check") == []
    assert check_command(root, "recompra loyalty ...") == []
    assert check_command(root, "recompra nope")
    assert check_command(root, "recompra analyze --no-such-option")
    assert check_command(root, "recompra keys create|frobnicate")
    assert check_command(root, "recompra recommend")
    assert check_command(root, "recompra recommend refresh SNAPSHOT OUT")
    assert check_command(root, "recompra import csv --mapping map.yaml FILE...") == []


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_documented_commands_exist(doc: Path) -> None:
    root = _root()
    problems = [p for line in quoted_commands(doc.read_text()) for p in check_command(root, line)]
    assert problems == []
