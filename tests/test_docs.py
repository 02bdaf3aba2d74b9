"""Docs that cannot drift: README's command table against the commands' --help, and every repository
path README.md and docs/*.md name exists."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import click
from click.testing import CliRunner

from ingest.cli import cli

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


# --- the command table ----------------------------------------------------------------------------

def _leaf_commands(group: click.Group, prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], click.Command]:
    """Every command `ingest --help` (and its groups' --help) lists, as (word, ...) -> command."""
    ctx = click.Context(group)
    leaves = {}
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if command is None or command.hidden:
            continue
        if isinstance(command, click.Group):
            leaves.update(_leaf_commands(command, (*prefix, name)))
        else:
            leaves[(*prefix, name)] = command
    return leaves


def _command_table() -> list[str]:
    """The first cells of README's "## Commands" table."""
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Commands\n", 1)[1].split("\n#", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    assert rows, "README has no command table under ## Commands"
    return [re.split(r"(?<!\\)\|", row)[1] for row in rows]


def _table_invocations() -> list[tuple[tuple[str, ...], str]]:
    """(command words, the invocation as written) for every `ingest ...` span of the table; a word
    `a|b|c` naming subcommands stands for each of them (`ingest backfill perpetuals|futures|...`)."""
    found = []
    for cell in _command_table():
        for span in re.findall(r"`([^`]+)`", cell):
            words = span.replace("\\|", "|").split()
            assert words[0] == "ingest", f"README command table: {span!r} does not start with ingest"
            paths: list[tuple[click.Command, tuple[str, ...]]] = [(cli, ())]
            for word in words[1:]:
                choices = word.split("|")
                if not all(isinstance(g, click.Group) and all(c in g.commands for c in choices) for g, _ in paths):
                    break
                paths = [(g.commands[c], (*p, c)) for g, p in paths for c in choices]  # type: ignore[attr-defined]
            found.extend((path, span) for _, path in paths)
    return found


def test_the_readme_command_table_lists_every_command_and_only_those():
    commands = set(_leaf_commands(cli))
    in_table = {path for path, _ in _table_invocations()}
    assert commands, "no commands found"
    missing = sorted(" ".join(("ingest", *c)) for c in commands - in_table)
    unknown = sorted(" ".join(("ingest", *c)) for c in in_table - commands)
    assert not missing, f"commands missing from README's command table: {missing}"
    assert not unknown, f"README's command table names what is not a command: {unknown}"


def test_every_option_in_the_table_is_in_the_commands_help():
    for path, span in _table_invocations():
        result = CliRunner().invoke(cli, [*path, "--help"], terminal_width=200)
        assert result.exit_code == 0, result.output
        for option in re.findall(r"(?<![\w-])(--?[a-zA-Z][\w-]*)", span):
            assert re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", result.output), \
                f"README: `{span}` names {option}, which `ingest {' '.join(path)} --help` does not list"


def test_ingest_help_lists_the_top_level_commands_of_the_table():
    """The table is checked against the commands click builds; this ties them to what `ingest --help`
    prints in a real process."""
    ingest = str(Path(sys.executable).with_name("ingest"))
    out = subprocess.run([ingest, "--help"], capture_output=True, text=True, timeout=60).stdout
    listed = set(re.findall(r"^  ([a-z][\w-]*)\s", out.split("Commands:", 1)[1], flags=re.M))
    assert listed == {path[0] for path, _ in _table_invocations()}


# --- paths ------------------------------------------------------------------------------------------

def _tracked_files() -> set[str]:
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    return set(out.splitlines())


# a file name with one of the extensions the repository holds
FILE_LIKE = re.compile(r"^[\w.@-]+(?:/[\w.@-]+)*/?\.?[\w-]*\.(?:md|py|sql|json|toml|ini|ya?ml|js|sh|txt|mako|lock)$")


def _named_paths(doc: Path, text: str | None = None) -> list[str]:
    """Repository paths a doc names: relative link targets, and `code spans` that are a path (a first
    segment that is a top-level entry of the repository, or a file name with a known extension)."""
    text = doc.read_text() if text is None else text
    top = {f.split("/")[0] for f in _tracked_files()}
    named = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if not re.match(r"^[a-z]+:", target) and not target.startswith("#"):
            named.append(str((doc.parent / target.split("#")[0]).resolve().relative_to(ROOT)))
    for span in re.findall(r"`([^`\n]+)`", text):
        candidate = span.strip().split("#")[0].split("::")[0]
        if " " in candidate or "*" in candidate or "<" in candidate or "NN" in candidate:
            continue  # a pattern or a command, not a path
        if candidate.startswith(".") and "/" not in candidate:
            continue  # a suffix (`.down.sql`)
        first = candidate.split("/")[0]
        if ("/" in candidate and first in top) or FILE_LIKE.match(candidate):
            named.append(candidate)
    return named


def test_every_path_the_docs_name_exists():
    tracked = _tracked_files()
    names = {Path(f).name for f in tracked}
    folders = {str(parent) for f in tracked for parent in Path(f).parents}
    missing = []
    for doc in DOCS:
        for path in _named_paths(doc):
            clean = path.rstrip("/")
            exists = clean in tracked or clean in folders or ("/" not in clean and clean in names)
            if not exists:
                missing.append(f"{doc.relative_to(ROOT)}: {path}")
    assert not missing, "docs name paths that do not exist:\n" + "\n".join(missing)


def test_the_path_check_would_see_a_missing_file():
    text = "see `ingest/backfill/loading.py`, `live_gaps.sql` and [the API](deribit-api.md)\n"
    named = _named_paths(ROOT / "docs" / "a-doc.md", text)
    assert named == ["docs/deribit-api.md", "ingest/backfill/loading.py", "live_gaps.sql"]
    tracked = _tracked_files()
    assert not {"docs/deribit-api.md", "ingest/backfill/loading.py"} & tracked
