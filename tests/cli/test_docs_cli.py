"""docs/cli.md documents every command and option, and its JSON Lines example is real output."""

from __future__ import annotations

import json
import re
from pathlib import Path

import typer
from typer.testing import CliRunner

from tosengine.cli import app

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "cli.md").read_text()


def test_every_command_and_option_is_documented() -> None:
    group = typer.main.get_command(app)
    commands = group.commands  # type: ignore[attr-defined]
    assert {"run", "generate", "demo", "check", "fmt"} <= set(commands)
    for name, command in commands.items():
        assert re.search(rf"^## `tosengine {name}\b", DOC, flags=re.M), name
        for param in command.params:
            for opt in [*param.opts, *getattr(param, "secondary_opts", [])]:
                if opt.startswith("-") and opt != "--help":
                    assert re.search(rf"`{re.escape(opt)}[`, ]", DOC), (name, opt)


def test_jsonl_example_is_what_run_prints() -> None:
    example = json.loads(re.search(r"^```json\n(.*?)\n```", DOC, flags=re.M | re.S).group(1))
    result = CliRunner().invoke(app, ["run", str(ROOT / "docs" / "examples" / "apache_access.tos"),
                                      str(ROOT / "tests" / "data" / "real" / "elastic_apache_access.jsonl.gz"),
                                      "-f", "jsonl", "--exit-zero"])
    assert result.exit_code == 0, result.output
    assert example in [json.loads(line) for line in result.stdout.splitlines()]


def test_readme_quickstart_is_demo_then_tests() -> None:
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"^```bash\n(.*?)^```", readme, flags=re.M | re.S).group(1).splitlines()
    assert block == ["pip install . && tosengine demo", "pip install '.[test]' && python -m pytest"]
    for link in re.findall(r"\]\(([^)#]+)\)", readme):
        assert (ROOT / link).exists(), link
