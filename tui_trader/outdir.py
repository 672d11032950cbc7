"""Output folders given on the command line (``--out``): made if needed and proven writable
before any long work starts, so a bad path fails at once with one line, not after it."""

from __future__ import annotations

import tempfile
from pathlib import Path


def out_dir_problem(out: Path) -> str:
    """Why ``out`` cannot take files ("" when it can): it is made if missing, then a temporary
    file is written and removed in it. The text names the path: ``--out: cannot write to ...``.
    A refused path leaves none of the folders made for it (each removed only while empty)."""
    if out.exists() and not out.is_dir():
        return f"--out: cannot write to {out}: not a folder"
    made = missing_folders(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".tui-trader-", delete=True):
            pass
    except OSError as exc:
        remove_empty(made)
        return f"--out: cannot write to {out}: {exc.strerror or exc}"
    return ""


def missing_folders(out: Path) -> list[Path]:
    """``out`` and its parents that do not exist yet, deepest first: what making ``out`` makes."""
    return [p for p in (out, *out.parents) if not p.exists()]


def remove_empty(folders: list[Path]) -> None:
    """Remove ``folders`` (deepest first) while each is empty; stop at the first that is not."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            return
