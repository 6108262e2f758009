"""Every code block of README.md runs as written, against the simulator, so README cannot drift.

Conventions (for anyone adding a README section):

- A ```python block is a complete program. It is run as a script (``python block.py``) in an
  empty temporary directory with these environment variables pointing at a simulator
  (``python -m evenergy_async.simulator``, its own process): ``EVENERGY_BASE_URL``,
  ``EVENERGY_TOKEN`` (user 0), ``EVENERGY_CLIENT_ID``, ``EVENERGY_CLIENT_SECRET``,
  ``ALICE_TOKEN`` (user 0) and ``BOB_TOKEN`` (user 1), and ``EVENERGY_DATABASE_URL`` pointing
  at the suite's throwaway PostgreSQL server (tests/pgserver.py). Write the code as a real user would,
  reading these from the environment (``os.environ.get("EVENERGY_BASE_URL", DEFAULT_BASE_URL)``)
  or starting its own ``Simulator``. It must exit with status 0, without a traceback.
- In a ```sh block, each command line that starts with ``evenergy-async`` (continuation lines
  joined, comments dropped) is run by bash as written (redirections included), with
  ``evenergy-async`` being this checkout's ``python -m evenergy_async`` and the same environment,
  and must exit with 0; other lines (``make``, ``pip``, ``export X=...``) are documentation only.
- An HTML comment on the line before a block changes that:
  ``<!-- readme-test: skip REASON -->`` does not run it (say why: e.g. it needs a service the
  suite does not start); ``<!-- readme-test: env NAME=VALUE ... -->`` adds variables.
- Blocks of other languages (```text, ```json...) are not run.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from .cli_support import PY, ROOT, Server, clean_env, simulator_process
from .pgserver import PgServer

README = ROOT / "README.md"
MARKER = re.compile(r"<!--\s*readme-test:\s*(\w+)\s*(.*?)\s*-->")


@dataclass
class Block:
    line: int
    lang: str
    code: str
    skip: str | None = None
    env: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"README.md:{self.line}:{self.lang}"


def readme_blocks(text: str) -> list[Block]:
    blocks: list[Block] = []
    lines = text.splitlines()
    i = 0
    previous = ""
    while i < len(lines):
        fence = re.match(r"^(`{3,})(\w*)\s*$", lines[i])
        if not fence:
            if lines[i].strip():
                previous = lines[i]
            i += 1
            continue
        start, ticks, lang = i, fence.group(1), fence.group(2)
        i += 1
        body: list[str] = []
        while i < len(lines) and lines[i].strip() != ticks:
            body.append(lines[i])
            i += 1
        i += 1
        block = Block(line=start + 1, lang=lang, code="\n".join(body) + "\n")
        marker = MARKER.search(previous)
        if marker:
            verb, rest = marker.group(1), marker.group(2)
            if verb == "skip":
                block.skip = rest or "no reason given"
            elif verb == "env":
                block.env = dict(item.split("=", 1) for item in shlex.split(rest))
            else:
                raise ValueError(f"README.md:{start}: unknown readme-test marker {verb!r}")
        previous = ""
        blocks.append(block)
    return blocks


def sh_commands(code: str) -> list[str]:
    """The ``evenergy-async`` command lines of a shell block (continuations joined, comments dropped)."""
    joined = re.sub(r"\\\n\s*", " ", code)
    commands = []
    for line in joined.splitlines():
        words = shlex.split(line, comments=True)
        if words and words[0] == "evenergy-async":
            commands.append(re.sub(r"[ \t]+", " ", line.split(" #", 1)[0]).strip())
    return commands


BLOCKS = [b for b in readme_blocks(README.read_text(encoding="utf-8")) if b.lang in ("python", "sh")]


def test_readme_has_runnable_blocks() -> None:
    assert sum(1 for b in BLOCKS if b.lang == "python" and not b.skip) >= 3
    assert any(sh_commands(b.code) for b in BLOCKS if b.lang == "sh")
    assert all(b.skip != "no reason given" for b in BLOCKS)


def test_extractor_conventions() -> None:
    text = (
        "intro\n<!-- readme-test: skip needs PostgreSQL -->\n```python\nimport nothing\n```\n"
        "<!-- readme-test: env A=1 B='x y' -->\n\n```sh\nmake test\nevenergy-async harvest --out o/ \\\n"
        "    --since 2026-11-01   # a comment\n```\n```json\n{}\n```\n"
    )
    skipped, sh, json_block = readme_blocks(text)
    assert skipped.skip == "needs PostgreSQL" and skipped.lang == "python"
    assert sh.env == {"A": "1", "B": "x y"} and json_block.lang == "json"
    assert sh_commands(sh.code) == ["evenergy-async harvest --out o/ --since 2026-11-01"]


@dataclass
class Ran:
    commands: list[str]
    code: int
    out: str
    err: str


def run_block(block: Block, env: dict[str, str], tmp: Path) -> Ran:
    tmp.mkdir(parents=True, exist_ok=True)
    full_env = clean_env({**env, **block.env})
    if block.lang == "python":
        script = tmp / "block.py"
        script.write_text(block.code, encoding="utf-8")
        proc = subprocess.run([PY, str(script)], cwd=tmp, env=full_env, capture_output=True, text=True, timeout=300)
        return Ran(["python block.py"], proc.returncode, proc.stdout, proc.stderr)
    # the command as written, by bash (redirections and all), with `evenergy-async` being
    # this checkout's `python -m evenergy_async`
    bindir = tmp / "bin"
    bindir.mkdir(exist_ok=True)
    wrapper = bindir / "evenergy-async"
    wrapper.write_text(f'#!/bin/sh\nexec {shlex.quote(PY)} -m evenergy_async "$@"\n')
    wrapper.chmod(0o755)
    full_env["PATH"] = f"{bindir}{os.pathsep}{full_env.get('PATH', '')}"
    ran = Ran([], 0, "", "")
    for line in sh_commands(block.code):
        ran.commands.append(line)
        proc = subprocess.run(
            ["bash", "-c", line], cwd=tmp, env=full_env, capture_output=True, text=True, timeout=300
        )
        ran.out += proc.stdout
        ran.err += proc.stderr
        if proc.returncode != 0:
            ran.code = proc.returncode
            break
    return ran


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with simulator_process() as srv:
        yield srv


@pytest.fixture(scope="module")
def results(server: Server, pg_server: PgServer, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Ran]:
    env = {
        "EVENERGY_DATABASE_URL": pg_server.dsn,
        "EVENERGY_BASE_URL": server.base_url,
        "EVENERGY_TOKEN": server.tokens[0],
        "EVENERGY_CLIENT_ID": server.client_id,
        "EVENERGY_CLIENT_SECRET": server.client_secret,
        "ALICE_TOKEN": server.tokens[0],
        "BOB_TOKEN": server.tokens[1],
    }
    root = tmp_path_factory.mktemp("readme")
    runnable = [b for b in BLOCKS if not b.skip]
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = {b.name: pool.submit(run_block, b, env, root / f"block{b.line}") for b in runnable}
        return {name: future.result() for name, future in futures.items()}


@pytest.mark.parametrize("block", BLOCKS, ids=[b.name for b in BLOCKS])
def test_readme_block_runs(block: Block, results: dict[str, Ran]) -> None:
    if block.skip:
        # not run, by the README's own marker; the reason is part of the README
        assert block.skip
        return
    ran = results[block.name]
    assert "Traceback" not in ran.err, ran.err
    assert ran.code == 0, f"{ran.commands}: {ran.err}"
