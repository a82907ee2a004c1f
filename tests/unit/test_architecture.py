"""The layout rules of DESIGN.md, checked on the source: the platform never imports a domain,
and a domain reaches another domain only through that domain's ``public`` module."""

from __future__ import annotations

import ast
from pathlib import Path

import profilestore

SOURCE = Path(profilestore.__file__).parent


def _imports(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.extend(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
    return names


def test_platform_imports_no_domain() -> None:
    offenders = [
        f"{path.relative_to(SOURCE)}: {name}"
        for path in (SOURCE / "platform").rglob("*.py")
        for name in _imports(path)
        if name.startswith("profilestore.domains")
    ]
    assert offenders == []


def test_domains_meet_only_through_public_modules() -> None:
    offenders = []
    for path in (SOURCE / "domains").rglob("*.py"):
        parts = path.relative_to(SOURCE / "domains").parts
        if len(parts) < 2:
            continue  # the registry lists every domain
        own = f"profilestore.domains.{parts[0]}"
        for name in _imports(path):
            if not name.startswith("profilestore.domains.") or name.startswith(own):
                continue
            other = ".".join(name.split(".")[:3])
            if not name.startswith(f"{other}.public"):
                offenders.append(f"{path.relative_to(SOURCE)}: {name}")
    assert offenders == []


def test_domains_never_commit() -> None:
    """Services and routes hand their session to the unit of work, which commits once."""
    offenders = [
        f"{path.relative_to(SOURCE)}:{node.lineno}"
        for path in (SOURCE / "domains").rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Attribute) and node.attr in {"commit", "rollback"}
    ]
    assert offenders == []


def test_every_api_router_commits_through_the_unit_of_work() -> None:
    from profilestore.domains.registry import DOMAINS
    from profilestore.platform.uow import UnitOfWorkRoute

    for domain in DOMAINS:
        for router in domain.routers:
            assert router.route_class is UnitOfWorkRoute, domain.name


PROFILE_ANCHOR = {"lock_owner", "lock_owner_timezone", "profile_exists", "profile_timezone"}


def test_domains_that_run_without_profiles_anchor_owners_through_the_platform() -> None:
    """A domain that can be served without the profiles domain (every one that does not
    require it) locks and reads its users through ``platform.owners``, never through the
    profiles domain's table: in a database of its own there is none."""
    from profilestore.domains.registry import DOMAINS

    independent = {d.name for d in DOMAINS if "profiles" not in d.requires} - {"profiles"}
    assert {"media", "nutrition", "movement"} <= independent
    offenders = []
    for name in independent:
        for path in (SOURCE / "domains" / name).rglob("*.py"):
            tree = ast.parse(path.read_text())
            bound = set()  # local names of profiles modules
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                    "profilestore.domains.profiles"
                ):
                    if {alias.name for alias in node.names} & PROFILE_ANCHOR:
                        offenders.append(f"{path.relative_to(SOURCE)}:{node.lineno}")
                    bound |= {alias.asname or alias.name for alias in node.names}
            for node in ast.walk(tree):
                if (
                    isinstance(node, ast.Attribute)
                    and isinstance(node.value, ast.Name)
                    and node.value.id in bound
                    and node.attr in PROFILE_ANCHOR
                ):
                    offenders.append(f"{path.relative_to(SOURCE)}:{node.lineno}")
    assert offenders == []
