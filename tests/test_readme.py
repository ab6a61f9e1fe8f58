"""README.md stays true to the tree: its architecture map lists every module under mcuq/ (and none that
is gone), and the test command it gives is the one CI runs."""

import re

from tests.helpers.paths import REPO

README = (REPO / "README.md").read_text()


def test_architecture_map_lists_every_module_of_the_package():
    modules = {p.relative_to(REPO).as_posix() for p in (REPO / "mcuq").rglob("*.py")}
    listed = set(re.findall(r"^\| `(mcuq/[\w/]+\.py)` \|", README, flags=re.MULTILINE))
    assert modules - listed == set(), "modules missing from README.md's architecture map"
    assert listed - modules == set(), "README.md's architecture map lists modules that do not exist"


def test_ci_runs_the_test_command_the_readme_gives():
    (readme_command,) = re.findall(r"The test command itself is `([^`]+)`", README)
    ci_commands = [line.strip() for line in (REPO / ".ci" / "run").read_text().splitlines()
                   if "pytest" in line and not line.lstrip().startswith("#")]
    assert ci_commands == [readme_command]
