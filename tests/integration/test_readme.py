"""README.md is accurate: every Python block in it runs, against a real nats-server.

Conventions in README.md (stated there for readers, repeated here for writers):

* Every ```python block connects to ``nats://127.0.0.1:4222`` (or ``tls://``,
  or with user info); this test replaces ``127.0.0.1:4222`` with the address of
  the server the block needs and runs the block in a fresh interpreter, in a
  directory holding the files the block names (``ca.pem``, ``client-cert.pem``,
  ``client-key.pem``, ``user.nk``, ``user.creds``).
* An HTML comment on the line before a block says what it needs:
  ``<!-- test: server=KIND -->`` with KIND one of the keys of ``SERVER_KINDS``
  (``plain`` when there is no comment; ``down`` is an address where nothing
  listens; ``none`` runs the block unchanged), ``<!-- test: pytest -->`` runs the
  block as a pytest module with natsync's fixtures, and
  ``<!-- test: skip-run REASON -->`` only compiles it.
* A comment ``# -> TEXT`` at the end of a line of a block is output the block
  must print: every such TEXT must be a line of its output, in that order.
* Shell blocks are not run; the "Two commands" block must be exactly the two
  commands, the option table must match ``natsync.options.Options``, and the
  flags shown for the ``natsync`` command must exist.
"""

from __future__ import annotations

import ast
import dataclasses
import re
import ssl
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import pytest

import natsync
from natsync import errors
from natsync.options import Options
from natsync.testing import NatsServer, free_port
from tests.cli_support import cli_env

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
RUN_TIMEOUT = 30.0
PLACEHOLDER = "127.0.0.1:4222"

TWO_COMMANDS = [
    'python3 -m venv .venv && . .venv/bin/activate && pip install -e ".[server]" && natsync demo',
    'python3 -m venv .venv && . .venv/bin/activate && pip install -e ".[test]" && pytest',
]

_DIRECTIVE = re.compile(r"^<!--\s*test:\s*(.*?)\s*-->$")
_EXPECT = re.compile(r"#\s*->\s*(.*?)\s*$")


@dataclass(frozen=True)
class Block:
    line: int  # 1-based line of the opening fence
    lang: str
    code: str
    directive: str  # "" when there is none

    @property
    def id(self) -> str:
        return f"L{self.line}"


def parse_blocks(text: str) -> List[Block]:
    """The fenced code blocks of ``text``, with the directive comment before each."""
    blocks: List[Block] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("```"):
            lang = line[3:].strip()
            start = i
            body: List[str] = []
            i += 1
            while i < len(lines) and lines[i].rstrip() != "```":
                body.append(lines[i])
                i += 1
            assert i < len(lines), f"README.md:{start + 1}: code block never closed"
            directive = ""
            j = start - 1
            while j >= 0 and not lines[j].strip():
                j -= 1
            if j >= 0:
                match = _DIRECTIVE.match(lines[j].strip())
                if match:
                    directive = match.group(1)
            blocks.append(Block(start + 1, lang, "\n".join(body) + "\n", directive))
        i += 1
    return blocks


README_TEXT = README.read_text(encoding="utf-8")
BLOCKS = parse_blocks(README_TEXT)
PY_BLOCKS = [b for b in BLOCKS if b.lang == "python"]


def section(title: str) -> str:
    """The text of the README section whose heading is ``## title``."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", README_TEXT, re.M | re.S)
    assert match, f"README.md has no section '## {title}'"
    return match.group(1)


# --------------------------------------------------------------------------- servers


@dataclass
class Material:
    """Certificates and credentials: the client's files in ``workdir``, the server's in ``keys``."""

    workdir: Path
    keys: Path
    nkey_public: str
    creds_server_config: str


def _make_material(base: Path) -> Material:
    trustme = pytest.importorskip("trustme")
    nkeys = pytest.importorskip("nkeys")
    from tests import jwt_helpers

    workdir, keys = base / "work", base / "keys"
    workdir.mkdir()
    keys.mkdir()
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(workdir / "ca.pem"))
    for name, identities in (
        ("server", ("127.0.0.1", "localhost")),
        ("internal", ("nats.internal",)),
    ):
        cert = ca.issue_cert(*identities)
        cert.cert_chain_pems[0].write_to_path(str(keys / f"{name}-cert.pem"))
        cert.private_key_pem.write_to_path(str(keys / f"{name}-key.pem"))
    client = ca.issue_cert("client.example")
    client.cert_chain_pems[0].write_to_path(str(workdir / "client-cert.pem"))
    client.private_key_pem.write_to_path(str(workdir / "client-key.pem"))

    nkey = jwt_helpers.new_keypair(nkeys.PREFIX_BYTE_USER)
    (workdir / "user.nk").write_text(nkey.seed + "\n")
    operator = jwt_helpers.make_operator()
    operator.user("readme").write(workdir / "user.creds")
    return Material(workdir, keys, nkey.public, operator.server_config())


def _tls(m: Material, name: str = "server", **kwargs: Any) -> Dict[str, Any]:
    return dict(
        tls_cert=str(m.keys / f"{name}-cert.pem"), tls_key=str(m.keys / f"{name}-key.pem"),
        **kwargs,
    )


SERVER_KINDS: Dict[str, Callable[[Material], Dict[str, Any]]] = {
    "plain": lambda m: {},
    "jetstream": lambda m: {"jetstream": True},
    "userpass": lambda m: {"user": "alice", "password": "s3cret"},
    "token": lambda m: {"token": "s3cret-t0ken"},
    "nkey": lambda m: {"config": f'authorization {{ users = [ {{ nkey: "{m.nkey_public}" }} ] }}'},
    "creds": lambda m: {"config": m.creds_server_config},
    "tls": lambda m: _tls(m),
    "mtls": lambda m: _tls(m, tls_ca=str(m.workdir / "ca.pem"), tls_verify=True),
    "tls-first": lambda m: _tls(m, tls_handshake_first=True),
    "tls-hostname": lambda m: _tls(m, "internal"),
    "websocket": lambda m: {"websocket": True},  # the block's address is the websocket port
}
NO_SERVER_KINDS = ("down", "none")


class Servers:
    """Servers started on first use, one per kind, closed at the end of the module."""

    def __init__(self, material: Material) -> None:
        self.material = material
        self.running: Dict[str, NatsServer] = {}

    def port(self, kind: str) -> int:
        if kind == "down":
            return free_port()  # nothing listens there
        if kind not in self.running:
            self.running[kind] = NatsServer(**SERVER_KINDS[kind](self.material)).start()
        server = self.running[kind]
        if kind == "websocket":
            assert server.websocket_port is not None
            return server.websocket_port
        return server.port

    def close(self) -> None:
        for server in self.running.values():
            server.close()


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    pool = Servers(_make_material(tmp_path_factory.mktemp("readme")))
    try:
        yield pool
    finally:
        pool.close()


# --------------------------------------------------------------------------- running


def parse_directive(directive: str) -> Tuple[str, str]:
    """``(mode, arg)``: ("run", KIND), ("pytest", ""), or ("skip-run", REASON)."""
    if not directive:
        return "run", "plain"
    if directive.startswith("server="):
        return "run", directive[len("server="):]
    if directive == "pytest":
        return "pytest", ""
    if directive.startswith("skip-run"):
        return "skip-run", directive[len("skip-run"):].strip()
    raise AssertionError(f"unknown test directive {directive!r}")


def expected_output(code: str) -> List[str]:
    return [m.group(1) for line in code.splitlines() for m in [_EXPECT.search(line)] if m]


def check_output(block: Block, out: str) -> None:
    """Each ``# -> TEXT`` of the block is a line of ``out``, in order."""
    got = [line.rstrip() for line in out.splitlines()]
    pos = 0
    for want in expected_output(block.code):
        try:
            pos = got.index(want, pos) + 1
        except ValueError:
            pytest.fail(f"README.md:{block.line}: expected a line {want!r} (in order) in the "
                        f"output:\n{out}")


def run_python(block: Block, code: str, cwd: Path) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        env=cli_env(),
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, (
        f"README.md:{block.line}: the block exited {proc.returncode}\n--- code\n{code}"
        f"--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
    )
    return proc.stdout


def run_pytest(block: Block, cwd: Path) -> str:
    module = cwd / f"test_readme_block_{block.line}.py"
    module.write_text(block.code, encoding="utf-8")
    (cwd / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    # Only natsync's plugin: the same whether or not natsync is installed.
    env = cli_env(PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "natsync.testing.plugin",
         "-p", "no:cacheprovider", module.name],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, (
        f"README.md:{block.line}: pytest failed ({proc.returncode})\n{proc.stdout}\n{proc.stderr}"
    )
    assert re.search(r"\b\d+ passed\b", proc.stdout), proc.stdout
    return proc.stdout


# --------------------------------------------------------------------------- tests


def test_readme_has_python_blocks() -> None:
    assert len(PY_BLOCKS) >= 10
    for block in BLOCKS:
        assert block.lang, f"README.md:{block.line}: give the code block a language"
        if block.lang != "python":
            assert not block.directive, f"README.md:{block.line}: directive on a {block.lang} block"


@pytest.mark.parametrize("block", PY_BLOCKS, ids=[b.id for b in PY_BLOCKS])
def test_python_block(block: Block, servers: Servers, tmp_path: Path) -> None:
    compile(block.code, f"README.md:{block.line}", "exec")  # every block, even unrun ones
    mode, arg = parse_directive(block.directive)
    if mode == "skip-run":
        assert arg, f"README.md:{block.line}: skip-run needs a reason"
        assert not expected_output(block.code), "a block that is not run cannot promise output"
        return
    if mode == "pytest":
        run_pytest(block, tmp_path)
        return
    assert arg in SERVER_KINDS or arg in NO_SERVER_KINDS, f"unknown server kind {arg!r}"
    code = block.code
    if arg == "none":
        assert PLACEHOLDER not in code, "server=none blocks must not use the placeholder address"
    else:
        assert PLACEHOLDER in code, f"README.md:{block.line}: connect to {PLACEHOLDER}"
        code = code.replace(PLACEHOLDER, f"127.0.0.1:{servers.port(arg)}")
    out = run_python(block, code, servers.material.workdir)
    check_output(block, out)


def test_two_commands_block_is_exact() -> None:
    text = section("Two commands")
    blocks = parse_blocks(text)
    assert [b.lang for b in blocks] == ["sh"]
    assert blocks[0].code.splitlines() == TWO_COMMANDS
    # and what they rely on exists: the extras, the command and its demo
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert re.search(r"^server = \[", pyproject, re.M)
    assert re.search(r"^test = \[", pyproject, re.M)
    assert re.search(r'^natsync = "natsync\.cli:main"', pyproject, re.M)
    proc = subprocess.run([sys.executable, "-m", "natsync", "demo", "--help"],
                          capture_output=True, text=True, timeout=RUN_TIMEOUT, env=cli_env())
    assert proc.returncode == 0, proc.stderr


def _option_rows() -> Dict[str, str]:
    rows: Dict[str, str] = {}
    for line in section("Connect options").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0] not in ("option", "---") and not cells[0].startswith("-"):
            rows[cells[0]] = cells[1]
    return rows


def _literal(text: str) -> Any:
    """A default as written in the table: a literal, or a product like 8 * 1024 * 1024."""
    value = 1
    if "*" in text:
        for factor in text.split("*"):
            value *= ast.literal_eval(factor.strip())
        return value
    return ast.literal_eval(text)


def test_option_table_matches_options() -> None:
    rows = _option_rows()
    internal = {"servers", "reconnect_random"}
    fields = {f.name: f for f in dataclasses.fields(Options) if f.name not in internal}
    assert sorted(rows) == sorted(fields), "README option table and Options differ"
    for name, field in fields.items():
        assert field.default is not dataclasses.MISSING, name
        assert _literal(rows[name]) == field.default, f"default of {name}"


def test_examples_named_in_readme_exist() -> None:
    named = set(re.findall(r"examples/([A-Za-z0-9_]+\.py)", README_TEXT))
    named |= set(re.findall(r"`([A-Za-z0-9_]+\.py)`", section("Quickstart")))
    on_disk = {p.name for p in (ROOT / "examples").glob("*.py")}
    assert named <= on_disk, f"README names examples that do not exist: {named - on_disk}"
    assert on_disk <= named, f"examples the README does not mention: {on_disk - named}"


def _cli_help(command: Optional[str]) -> str:
    args = [sys.executable, "-m", "natsync"] + ([command, "--help"] if command else ["--help"])
    proc = subprocess.run(args, capture_output=True, text=True, timeout=RUN_TIMEOUT, env=cli_env())
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


_FLAG = re.compile(r"(?<![\w-])(--?[a-zA-Z][\w-]*)")


def test_cli_flags_in_readme_exist() -> None:
    text = section("The `natsync` command")
    commands = ("pub", "sub", "req", "reply", "bench", "demo")
    flags: Dict[str, set[str]] = {c: set() for c in commands}
    current: Optional[str] = None
    for line in text.splitlines():
        match = re.match(r"^(?:natsync |- `)(pub|sub|req|reply|bench|demo)\b", line.strip())
        if match:
            current = match.group(1)
        elif not (line.startswith("  ") and line.strip()):
            current = None  # a bullet's continuation lines are indented
        if current is not None:
            flags[current] |= set(_FLAG.findall(line.split("  #")[0]))
    general = set(re.findall(r"(?<![\w-])(--[a-z][\w-]*)", text.split("```")[0]))
    assert {"--server", "--creds", "--nkey", "--tlsca"} <= general
    top = _cli_help(None)
    for flag in general:
        assert flag in top, f"README names {flag} for every command; `natsync --help` lacks it"
    for command in commands:
        assert flags[command], f"README shows no use of `natsync {command}`"
        usage = _cli_help(command)
        missing = sorted(f for f in flags[command] if f not in usage)
        assert not missing, f"`natsync {command}` has no {missing}"


# Each secured server refuses a client that lacks what its README block adds,
# so the blocks prove the feature: (options without it, the error expected).
def _ca(work: Path) -> Dict[str, Any]:
    return {"tls": ssl.create_default_context(cafile=str(work / "ca.pem"))}


REFUSALS: Dict[str, Tuple[Callable[[Path], Dict[str, Any]], type[errors.Error]]] = {
    "userpass": (lambda work: {}, errors.AuthorizationError),
    "token": (lambda work: {}, errors.AuthorizationError),
    "nkey": (lambda work: {}, errors.AuthorizationError),
    "creds": (lambda work: {}, errors.AuthorizationError),
    "tls": (lambda work: {"tls": ssl.create_default_context()}, errors.SecureConnFailedError),
    "mtls": (_ca, errors.SecureConnFailedError),  # no client certificate
    "tls-hostname": (_ca, errors.SecureConnFailedError),  # the certificate names another host
    "tls-first": (_ca, errors.TimeoutError),  # the server waits for TLS, the client for INFO
}


@pytest.mark.parametrize("kind", sorted(REFUSALS))
def test_secured_servers_refuse_what_the_blocks_add(kind: str, servers: Servers) -> None:
    port = servers.port(kind)
    scheme = "nats" if kind in ("userpass", "token", "nkey", "creds") else "tls"
    options, expected = REFUSALS[kind]
    with pytest.raises(expected):
        nc = natsync.connect(f"{scheme}://127.0.0.1:{port}", connect_timeout=1.0,
                             **options(servers.material.workdir))
        nc.close()
