"""The API reference: every public name has a docstring, and every public module is on a
reference page.

The reference site (``make docs``: mkdocs with mkdocstrings) is generated from the docstrings,
read statically by griffe as the site reads them, inherited docstrings included (an adapter's
``append`` documents itself through its port's). Public means: no part of the dotted path
starts with an underscore.
"""

from __future__ import annotations

import re
from pathlib import Path

import griffe
import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {
    "ddbes": "ddbes-core",
    "ddbes_dynamodb": "ddbes-dynamodb",
    "ddbes_s3": "ddbes-s3",
    "ddbes_ws": "ddbes-ws",
    "ddbes_cli": "ddbes-cli",
}
REFERENCE = ROOT / "docs" / "reference"
NOT_ON_THE_SITE = {
    # The command's modules: each is one subcommand, documented in docs/cli.md.
    re.compile(r"ddbes_cli\.\w+_cmd"): "a command of `ddbes`: see docs/cli.md",
}


@pytest.fixture(scope="module")
def packages() -> dict[str, griffe.Module]:
    extensions = griffe.load_extensions("griffe_inherited_docstrings")
    loader = griffe.GriffeLoader(
        extensions=extensions,
        search_paths=[str(ROOT / "packages" / dist / "src") for dist in PACKAGES.values()],
    )
    for name in PACKAGES:
        loader.load(name)
    loader.resolve_aliases(implicit=False, external=None)
    modules = loader.modules_collection
    for name in PACKAGES:  # inherit across packages too (an adapter from its port)
        extensions.call("on_package", pkg=modules[name], loader=loader)
    return {name: modules[name] for name in PACKAGES}


def _public_modules(module: griffe.Module) -> list[griffe.Module]:
    found = [module]
    for name, member in module.members.items():
        if not name.startswith("_") and not member.is_alias and member.is_module:
            found += _public_modules(member)  # type: ignore[arg-type]
    return found


def _undocumented(obj: griffe.Object) -> list[str]:
    """Public functions, classes, methods and properties under ``obj`` without a docstring."""
    missing = []
    for name, member in obj.members.items():
        if name.startswith("_") or member.is_alias or member.is_module:
            continue
        if not (member.is_function or member.is_class):
            continue  # attributes: documented by their class or module docstring
        if not member.docstring or not member.docstring.value.strip():
            missing.append(member.path)
        if member.is_class:
            missing += _undocumented(member)  # type: ignore[arg-type]
    return missing


def test_every_public_name_has_a_docstring(packages: dict[str, griffe.Module]) -> None:
    missing = []
    for package in packages.values():
        for module in _public_modules(package):
            if not module.docstring or not module.docstring.value.strip():
                missing.append(f"{module.path} (the module)")
            missing += _undocumented(module)
    assert not missing, "public names without a docstring:\n" + "\n".join(sorted(missing))


def _shown(packages: dict[str, griffe.Module]) -> set[str]:
    """The modules the reference pages render (``::: module`` blocks)."""
    pages = "\n".join(page.read_text() for page in REFERENCE.glob("*.md"))
    return set(re.findall(r"^::: ([\w.]+)", pages, flags=re.M))


def test_every_public_name_is_in_the_reference(packages: dict[str, griffe.Module]) -> None:
    """Each public class and function is on the site: its module has a ``::: module`` block,
    or a module that has one exports it (``ddbes_dynamodb`` shows ``DynamoDBCommitStore``)."""
    shown = _shown(packages)
    collection = next(iter(packages.values())).modules_collection
    exported = set()
    for name in shown:
        module = collection.get_member(name) if name in collection else None
        if module is None:
            try:
                module = collection.get_member(name)
            except (KeyError, ValueError):
                continue
        for member in module.members.values():
            if member.is_alias:
                try:
                    exported.add(member.final_target.path)
                except griffe.AliasResolutionError:
                    continue
    absent = []
    for package in packages.values():
        for module in _public_modules(package):
            if module.path in shown or any(
                pattern.fullmatch(module.path) for pattern in NOT_ON_THE_SITE
            ):
                continue
            for name, member in module.members.items():
                if name.startswith("_") or member.is_alias or member.is_module:
                    continue
                if (member.is_class or member.is_function) and member.path not in exported:
                    absent.append(member.path)
    assert not absent, (
        "public names on no page of docs/reference (add a `::: module` block, export them "
        "from a module that has one, or give them a leading underscore if they are not for "
        "users):\n" + "\n".join(sorted(absent))
    )


def test_the_reference_names_only_modules_that_exist(packages: dict[str, griffe.Module]) -> None:
    every = {module.path for package in packages.values() for module in _public_modules(package)}
    stale = [
        name
        for name in _shown(packages)
        if name not in every and name.rsplit(".", 1)[0] not in every
    ]
    assert not stale, f"docs/reference names what does not exist: {stale}"
