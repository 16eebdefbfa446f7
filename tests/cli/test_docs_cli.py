"""docs/cli.md documents every command and option, and its JSON Lines example is real output."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest
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


@pytest.fixture(scope="module")
def apache_violations() -> list[dict]:
    """The worked example of docs/examples.md, run as the docs show it."""
    result = CliRunner().invoke(app, ["run", str(ROOT / "docs" / "examples" / "apache_access.tos"),
                                      str(ROOT / "tests" / "data" / "real" / "elastic_apache_access.jsonl.gz"),
                                      "-f", "jsonl", "--exit-zero"])
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_jsonl_example_is_what_run_prints(apache_violations: list[dict]) -> None:
    example = json.loads(re.search(r"^```json\n(.*?)\n```", DOC, flags=re.M | re.S).group(1))
    assert example in apache_violations


EXAMPLES_DOC = (ROOT / "docs" / "examples.md").read_text()


def test_examples_doc_rule_text_is_the_shipped_example_file() -> None:
    blocks = re.findall(r"^```tos\n(.*?)^```", EXAMPLES_DOC, flags=re.M | re.S)
    text = (ROOT / "docs" / "examples" / "apache_access.tos").read_text()
    assert blocks
    for block in blocks:
        assert block in text


def test_examples_doc_sql_gives_the_engine_answer(apache_violations: list[dict]) -> None:
    import duckdb  # a test dependency

    query = re.search(r"^```sql\n(.*?)^```", EXAMPLES_DOC, flags=re.M | re.S).group(1)
    con = duckdb.connect()
    con.execute(f"SET file_search_path = '{ROOT}'")
    rows = con.execute(query).fetchall()
    engine = [(v["key"]["ip"], v["window_start"], v["values"]["requests"], v["values"]["paths"])
              for v in apache_violations if v["rule"] == "ip_request_burst"]
    as_iso = {(ip, dt.datetime.fromtimestamp(ws / 1000, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z"), r, p)
              for ip, ws, r, p in rows}
    assert len(rows) == 6
    assert as_iso == set(engine)


def test_readme_quickstart_is_demo_then_tests() -> None:
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"^```bash\n(.*?)^```", readme, flags=re.M | re.S).group(1).splitlines()
    assert block == ["pip install . && tosengine demo", "pip install '.[test]' && python -m pytest"]
    for link in re.findall(r"\]\(([^)#]+)\)", readme):
        assert (ROOT / link).exists(), link
