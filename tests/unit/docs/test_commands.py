"""Commands shown in the manual and the README exist as shown, and the offline ones run.

Every ``mlflow-supplychain ...`` in a code block or inline code (and in the example files the
site includes) must name a real command, and every option written after it must be one of that
command's options. Commands that need no server are run in-process as the pages show them.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from mlflow_supplychain.cli.main import cli, main
from tests.unit.docs.manual import REPO, page, published

MENTION = re.compile(r"(?<![\w/.\[-])mlflow-supplychain(?=[ \t])")
FENCE = re.compile(r"^[ \t]*(```|~~~)[^\n]*\n(.*?)^[ \t]*\1", re.DOTALL | re.MULTILINE)
INCLUDE = re.compile(r'^--8<-- "([^"]+)"$', re.MULTILINE)
OPTION = re.compile(r"^(--[a-z][a-z0-9-]*|-[a-zA-Z])$")
# Quoted messages and prose that begin with the program's name (an error message in the
# troubleshooting tables, a docstring line of an included example)
PROSE = ("policy path must be absolute", "plugin (")
COMMAND_STARTS = ("$", "&&", ";", "|", "run:", "(", "$(")
STOP_TOKENS = {"#", "|", ">", ">>", "&&", "||", ";", "2>", "<"}


def _code(text: str) -> Iterator[str]:
    """Each command-bearing piece of code: fenced lines (continuations joined) and inline code."""
    for match in FENCE.finditer(text):
        body = re.sub(r"\\\n\s*", " ", match.group(2))
        body = re.sub(r"\n(?=\s+\[)", " ", body)  # the reference's indented option lines
        yield from body.splitlines()
        for included in INCLUDE.findall(match.group(2)):
            yield from (REPO / included).read_text(encoding="utf-8").splitlines()
    outside = FENCE.sub("", text)
    yield from re.findall(r"`([^`\n]+)`", outside)


def _mentions() -> Iterator[tuple[str, str]]:
    """(page, what follows) for each mention where a command starts: at the start of a line or
    of inline code, after a shell prompt, a pipe or a YAML ``run:``; not inside a sentence
    quoted in code ("No mlflow-supplychain policy configured")."""
    for where, text in published():
        for code in _code(text):
            for match in MENTION.finditer(code):
                before = code[:match.start()].strip()
                rest = code[match.end():]
                if (before == "" or before.endswith(COMMAND_STARTS)) \
                        and not rest.strip().startswith(PROSE):
                    yield where, rest


def _tokens(rest: str) -> list[str]:
    tokens: list[str] = []
    for raw in rest.split():
        if raw in STOP_TOKENS or raw.startswith("#"):
            break
        token = raw.strip("[]'\"`")
        ended = token.endswith((":", ",", ")", ".")) and not token.startswith("-")
        tokens.append(token.rstrip(":,)."))
        if ended:
            break
    return tokens


def _problems(rest: str) -> list[str]:
    ctx = click.Context(cli)
    command: click.Command = cli
    tokens = _tokens(rest)
    while isinstance(command, click.Group) and tokens and not tokens[0].startswith("-"):
        names = tokens.pop(0).split("|")
        subs = [command.get_command(ctx, name) for name in names]
        if not all(subs):
            return [f"unknown command {names} in 'mlflow-supplychain {rest.strip()}'"]
        command, *others = subs  # type: ignore[assignment]
        if others:  # 'request reject|cancel': check the options against every alternative
            return [p for name in names for p in _problems(
                rest.replace("|".join(names), name, 1))]
    known = {"--help", "-h"}
    for param in command.params:
        known.update(param.opts)
        known.update(param.secondary_opts)
    problems = []
    for token in tokens:
        if token == "--":  # what follows goes to 'mlflow server' unchanged
            break
        option = token.split("=", 1)[0]
        if OPTION.match(option) and option not in known:
            problems.append(f"'{command.name}' has no option {option}: "
                            f"'mlflow-supplychain {rest.strip()}'")
    return problems


def test_every_command_shown_exists_with_the_options_shown() -> None:
    mentions = list(_mentions())
    assert len(mentions) > 80, "the extraction found too few commands to be working"
    problems = [f"{where}: {p}" for where, rest in mentions for p in _problems(rest)]
    assert not problems, "\n".join(problems)


def test_the_checker_catches_a_wrong_command_and_a_wrong_option() -> None:
    assert _problems(" gate check --evidence e.json --target production") == []
    assert _problems(" gate chekc NAME 1")
    assert _problems(" gate check NAME 1 --targte production")
    assert _problems(" request reject|cancel ID --apply")  # --apply is approve's option only
    assert _problems(" server --policy p.yaml -- --gunicorn-opts x") == []


def _run(command: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    argv = shlex.split(command)
    assert argv[0] == "mlflow-supplychain"
    capsys.readouterr()
    code = main(argv[1:])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


_GATE_CHECK = ("mlflow-supplychain gate check --evidence examples/evidence-{}.json "
               "--target production --policy examples/policy.yaml")
OFFLINE = [("ci/gate-check.md", _GATE_CHECK.format("compliant"), 0),
           ("ci/gate-check.md", _GATE_CHECK.format("missing"), 1)]


@pytest.mark.parametrize(("where", "command", "expected"), OFFLINE)
def test_offline_gate_checks_exit_as_documented(where: str, command: str, expected: int,
                                                capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    assert command in page(where)
    monkeypatch.chdir(REPO)
    code, _ = _run(command, capsys)
    assert code == expected


def test_the_denial_shown_is_what_gate_check_prints(capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    block = re.search(r"```text\n\$ (.*?)\n(.*?)```", page("data-scientists/denials.md"), re.DOTALL)
    assert block
    monkeypatch.chdir(REPO)
    code, output = _run(block.group(1), capsys)
    assert code == 1
    printed = re.sub(r"sha256:[0-9a-f]{64}", "sha256:...", output).strip()
    assert printed == block.group(2).strip()


def _bash_lines(where: str, first: str) -> list[str]:
    """The commands of the bash block on page ``where`` that starts with ``first``."""
    for match in FENCE.finditer(page(where)):
        lines = [line.split("  #")[0].strip() for line in match.group(2).splitlines()]
        lines = [line for line in lines if line]
        if lines and lines[0] == first:
            return lines
    raise AssertionError(f"{where} has no bash block starting with {first!r}")


def test_policy_and_intake_steps_run_as_shown(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    policy = _bash_lines("admins/policy.md", "mlflow-supplychain policy init -o policy.yaml")
    intake = _bash_lines("data-scientists/registering.md",
                         "mlflow-supplychain intake template --class base_model "
                         "--policy policy.yaml -o record.yaml")
    for command in policy + intake[:2]:  # 'intake apply' needs a server
        code, output = _run(command, capsys)
        assert code == 0, (command, output)
    assert (tmp_path / "record.yaml").is_file()
