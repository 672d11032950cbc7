"""Every command line in the README's ``bash`` blocks is one the CLI accepts: its command exists
and takes the options shown (optional parts in ``[...]`` are left out, as a reader would)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from tui_trader.cli import SUBCOMMANDS, _join_signed_values, _normalise_argv, build_parser

README = Path(__file__).resolve().parent.parent / "README.md"
PROGRAMS = ("tui-trader", "python -m tui_trader")


def readme_commands(optional_parts: bool = False) -> list[list[str]]:
    """The README's command lines, without their ``[...]`` parts, or with them (brackets removed,
    placeholders ``…`` and ``N`` given a value)."""
    text = README.read_text(encoding="utf-8")
    found = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            if line.lstrip().startswith("#"):
                continue
            for part in line.split("&&"):
                if optional_parts:
                    part = re.sub(r"\[([^\]]*)\]", r" \1 ", part).replace("…", "x")
                    part = re.sub(r"(?<= )N(?= |$)", "2", part)
                else:
                    part = re.sub(r"\[[^\]]*\]", " ", part)
                part = part.strip()
                for prog in PROGRAMS:
                    if part == prog or part.startswith(prog + " "):
                        found.append(shlex.split(part[len(prog) :]))
    return found


def test_the_readme_shows_the_main_commands() -> None:
    commands = readme_commands()
    assert [] in commands  # the quick start's console
    firsts = {argv[0] for argv in commands if argv}
    assert {"run", "backtest", "data"} <= firsts <= set(SUBCOMMANDS)
    assert any(argv[:2] == ["backtest", "sweep"] for argv in commands)


@pytest.mark.parametrize(
    "argv",
    readme_commands() + [a for a in readme_commands(optional_parts=True) if a not in readme_commands()],
    ids=lambda argv: " ".join(argv)[:80] or "console",
)
def test_each_readme_command_parses(argv: list[str]) -> None:
    # argparse exits 2 on an unknown option or a bad choice, and the command is named in the id
    build_parser().parse_args(_join_signed_values(_normalise_argv(argv)))
