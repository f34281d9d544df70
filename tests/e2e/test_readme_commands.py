"""The README's commands work as written, for a newcomer on a fresh checkout.

The shell blocks of the README's quick start, its walkthrough ("Running a
simulation with curl") and its key commands ("Authentication Roles") are
read from README.md itself, so this test follows the README when it
changes. They run in order, in one bash (``set -e -o pipefail``, so any
command that fails fails the test, naming its block), in a copy of the
checkout made a git repository of its own, with nothing of the project on
``PATH`` (as after ``./bin/serve`` on a fresh machine) and none of the
service's settings in the environment.

``./bin/serve`` is started as it starts the service once its packages are
installed: ``.venv/bin/invoke serve`` (the copy's ``.venv`` is the one the
tests run in; ``bin/bootstrap`` would install into it). It listens on a
free port, which replaces the README's 5000 in the commands. ``./bin/test``
(the whole suite) is left out. At the end the copy's ``git status`` must
be clean: what the walkthrough downloads goes under ``var/``.
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from ..processes import REPO_ROOT, free_port

SECTIONS = ("Quick start", "Running a simulation with curl", "Authentication Roles")
NOT_SHELL = re.compile(r"^(from |import |@|class |def |permissions_required)")
LEFT_OUT = {"./bin/test"}  # the whole suite, this test included


def readme_blocks(text, sections=SECTIONS):
    """The indented code blocks of ``sections``, dedented, in order."""
    blocks, section, current, previous_blank, section_of_block = [], None, None, True, None
    for line in text.splitlines():
        if line.startswith("## "):
            section = line[3:].strip()
        indented = line.startswith("    ")
        if current is not None and (indented or not line.strip()):
            current.append(line[4:])
            continue
        if current is not None:
            blocks.append((section_of_block, "\n".join(current).strip("\n")))
            current = None
        if indented and previous_blank and section in sections:
            current, section_of_block = [line[4:]], section
        previous_blank = not line.strip()
    if current is not None:
        blocks.append((section_of_block, "\n".join(current).strip("\n")))
    return blocks


def shell_blocks(text):
    for section, block in readme_blocks(text):
        commands = [line for line in block.splitlines() if line.strip() and not line.lstrip().startswith("#")]
        if commands and not NOT_SHELL.match(commands[0]):
            yield section, block


def copy_of_checkout(destination):
    """The checkout's files as they are now (tracked ones), as a repository of its own."""
    files = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO_ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    for name in filter(None, (item.decode() for item in files)):
        source = REPO_ROOT / name
        if source.is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    os.symlink((REPO_ROOT / ".venv").resolve(), destination / ".venv")
    git = ["git", "-c", "user.name=readme", "-c", "user.email=readme@test", "-c", "commit.gpgsign=false"]
    subprocess.run([*git, "init", "-q"], cwd=destination, check=True)
    subprocess.run([*git, "add", "-A"], cwd=destination, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "copy"], cwd=destination, check=True)


def newcomer_env(home):
    """No project settings, and nothing of the project's environment on PATH."""
    venv_bin = str(Path(sys.executable).parent)
    path = [part for part in os.environ.get("PATH", "").split(os.pathsep) if part and part != venv_bin]
    path = [part for part in path if "/.venv/" not in part + "/"]
    keep = {"LANG", "LC_ALL", "TERM", "TMPDIR", "USER", "LOGNAME", "SHELL"}
    env = {key: value for key, value in os.environ.items() if key in keep}
    env.update(PATH=os.pathsep.join(path), HOME=str(home), PYTHONDONTWRITEBYTECODE="1")
    return env


def test_the_readmes_commands_work_as_written(tmp_path):
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    copy_of_checkout(checkout)
    (tmp_path / "home").mkdir()
    env = newcomer_env(tmp_path / "home")
    port = free_port()
    blocks = list(shell_blocks((checkout / "README.md").read_text()))
    assert any("./bin/serve" in block for _, block in blocks), "the quick start's ./bin/serve is gone"
    assert any("curl" in block for _, block in blocks)

    script = ["set -e -o pipefail"]
    serve_args = None
    for number, (section, block) in enumerate(blocks, 1):
        block = block.replace("127.0.0.1:5000", f"127.0.0.1:{port}").replace(
            "localhost:5000", f"localhost:{port}"
        )
        lines = []
        for line in block.splitlines():
            command = line.strip()
            if command in LEFT_OUT:
                continue
            if command.startswith("./bin/serve"):
                assert serve_args is None, "one ./bin/serve is expected"
                serve_args = command.split()[1:]
                continue
            lines.append(line)
        script.append(f"echo '::block {number} ({section})' >&2")
        script.append("\n".join(lines))
    assert serve_args is not None
    (tmp_path / "readme.sh").write_text("\n".join(script) + "\n")

    log = open(tmp_path / "serve.log", "w")
    serve = subprocess.Popen(
        [".venv/bin/invoke", "serve", *serve_args, "--port", str(port)],
        cwd=checkout,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 90
        while "Workflow Service is running" not in (tmp_path / "serve.log").read_text():
            assert serve.poll() is None, (tmp_path / "serve.log").read_text()
            assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
            time.sleep(0.2)
        assert requests.get(f"http://127.0.0.1:{port}/healthcheck", timeout=30).status_code == 200

        result = subprocess.run(
            ["bash", str(tmp_path / "readme.sh")],
            cwd=checkout,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        markers = re.findall(r"^::block (.+)$", result.stderr, re.M)
        assert result.returncode == 0, (
            f"README block {markers[-1] if markers else '?'} failed ({result.returncode}):\n"
            f"stdout:\n{result.stdout[-3000:]}\nstderr:\n{result.stderr[-3000:]}"
        )
        assert len(markers) == len(blocks)
        # What the walkthrough fetched, and what run-worker kept.
        assert (checkout / "var" / "ieee4_load_voltages.csv").read_text().count("\n") > 10
        assert "[worker] artifacts kept in " in result.stdout
        status = subprocess.run(
            ["git", "status", "--porcelain"], cwd=checkout, capture_output=True, text=True, check=True
        )
        assert status.stdout == "", f"the README's commands left files git sees:\n{status.stdout}"
    finally:
        os.killpg(serve.pid, signal.SIGINT)
        try:
            serve.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(serve.pid, signal.SIGKILL)
            serve.wait(timeout=10)
        log.close()
