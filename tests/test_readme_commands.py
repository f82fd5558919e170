"""Every ``minimlp-colorize`` command shown in a fenced block of the README and of ``docs/*.md`` names a
subcommand that exists and only options that subcommand has (issue 31: the README is what a newcomer
types); every ``python PATH.py`` shown names a file of the repository."""
import argparse
import glob
import os
import re
import shlex

import pytest

from minimlp.colorize.cli.app import build_parser

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGES = ["README.md"] + sorted(os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, "docs", "*.md")))
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)


def _subcommands():
    """{subcommand: the set of its option strings}."""
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {name: set(sub._option_string_actions) for name, sub in action.choices.items()}


def shown_commands(text):
    """[token lists] of the shell commands in the fenced blocks of ``text``: each line's commands (split at
    ``&&``, ``;`` and ``|``), comments dropped, optional parts' brackets (``[--quick]``) removed."""
    commands = []
    for block in FENCE.findall(text):
        for line in block.splitlines():
            try:
                tokens = shlex.split(line, comments=True)
            except ValueError:   # not a shell line (Python code, output with a lone quote)
                continue
            current = []
            for token in tokens + [";"]:
                if token in ("&&", ";", "|", "||"):
                    if current:
                        commands.append(current)
                    current = []
                else:
                    current.append(token.strip("[]"))
    return commands


def _problems(page):
    with open(os.path.join(ROOT, page), encoding="utf-8") as f:
        text = f.read()
    options = _subcommands()
    problems, checked = [], 0
    for tokens in shown_commands(text):
        if tokens[0] == "minimlp-colorize" and len(tokens) > 1:
            checked += 1
            name = tokens[1]
            if name not in options:
                problems.append(f"{page}: `{shlex.join(tokens)}`: no subcommand {name!r}")
                continue
            for token in tokens[2:]:
                flag = token.split("=", 1)[0]
                if flag.startswith("-") and flag not in options[name]:
                    problems.append(f"{page}: `{shlex.join(tokens)}`: {name} has no option {flag}")
        elif tokens[0] in ("python", "python3") and len(tokens) > 1 and tokens[1].endswith(".py"):
            checked += 1
            if not os.path.exists(os.path.join(ROOT, tokens[1])):
                problems.append(f"{page}: `{shlex.join(tokens)}`: no file {tokens[1]}")
    return problems, checked


@pytest.mark.parametrize("page", PAGES)
def test_every_command_shown_names_an_existing_subcommand_option_and_script(page):
    problems, _ = _problems(page)
    assert problems == []


def test_the_readme_shows_commands_and_the_check_catches_a_wrong_one(tmp_path):
    """The README has commands to check; a made-up option or subcommand is reported (the checker can fail)."""
    _, checked = _problems("README.md")
    assert checked >= 5
    assert shown_commands("```bash\nminimlp-colorize train --out runs/x [--quick]  # a comment\n```\n") == [
        ["minimlp-colorize", "train", "--out", "runs/x", "--quick"]]
    wrong = tmp_path / "wrong.md"
    wrong.write_text("```bash\nminimlp-colorize train --out x --learning-rate 1 && minimlp-colorize trian\n"
                     "python examples/missing.py\n```\n")
    problems, _ = _problems(str(wrong))
    assert problems == [(f"{wrong}: `minimlp-colorize train --out x --learning-rate 1`: train has no option "
                         f"--learning-rate"), f"{wrong}: `minimlp-colorize trian`: no subcommand 'trian'",
                        f"{wrong}: `python examples/missing.py`: no file examples/missing.py"]


LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


@pytest.mark.parametrize("page", PAGES)
def test_every_relative_link_names_a_file_of_the_repository(page):
    """The README's pages under docs/ and the files they cite exist (docs/modules.md is written elsewhere: a
    link to it is allowed before it lands)."""
    with open(os.path.join(ROOT, page), encoding="utf-8") as f:
        links = [m for m in LINK.findall(f.read()) if "://" not in m]
    folder = os.path.dirname(os.path.join(ROOT, page))
    missing = [m for m in links if not os.path.exists(os.path.normpath(os.path.join(folder, m)))
               and os.path.normpath(os.path.join(folder, m)) != os.path.join(ROOT, "docs", "modules.md")]
    assert missing == []
