"""pyproject.toml names the wheel's packages one by one (setuptools' `packages.find` cannot also ship
templates/, runtime_c/ and boards/ from the top of the repository as mcuq.templates, ...): the list must
hold every package folder of mcuq/, so that a new stage cannot be left out of the wheel. Fast; the slow
tests/test_packaging.py builds and runs the wheel itself."""

import sys

from tests.helpers.paths import REPO

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

SETUPTOOLS = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]


def test_every_package_folder_of_mcuq_is_listed():
    folders = {".".join(init.parent.relative_to(REPO).parts) for init in (REPO / "mcuq").rglob("__init__.py")}
    mapped = set(SETUPTOOLS["package-dir"])
    assert folders - set(SETUPTOOLS["packages"]) == set(), "add these to packages in pyproject.toml"
    assert set(SETUPTOOLS["packages"]) - mapped - folders == set(), "pyproject.toml lists packages that do not exist"


def test_the_resource_packages_map_to_folders_of_the_repository():
    for package, folder in SETUPTOOLS["package-dir"].items():
        assert package in SETUPTOOLS["packages"] and (REPO / folder).is_dir(), (package, folder)
