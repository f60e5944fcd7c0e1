"""Security: daclab serves nothing on the network, the files it reads cannot make it run code, a
lab file reaches nothing but instrument drivers, and what it writes stays where the user chose.

Three kinds of proof: the source itself (an AST scan of daclab/, instruments/ and procedures/
for server and code-execution APIs, with a self-test showing the scan catches each one), the
process at work (socket calls and the kernel's socket tables while a sequence runs and the
window is open; Python's audit events for every file written), and hostile input files.
"""

from __future__ import annotations

import ast
import contextlib
import ipaddress
import json
import os
import re
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

import daclab.report_figures  # noqa: F401  (matplotlib writes its font cache now, not while writes are watched)
from daclab import analyze, report
from daclab import clock as clocks
from daclab.gui import app as gui_app
from daclab.lab import Lab, LabFileError, import_driver, load_lab
from daclab.run_cli import main_resume, main_run
from daclab.rundir import INDEX_NAME, REPORT_FOLDER, step_files
from daclab.sequence import run_sequence
from daclab.sequence_file import SequenceError, load_sequence, sequence_from_dict
from daclab.sim.sample import load_sample

REPO = Path(__file__).resolve().parent.parent
PACKAGE_FOLDERS = ("daclab", "instruments", "procedures")
SIMULATION = {"sample": "lace_h10_cell2", "start_K": 180.0, "seed": 2}
QUICK_SWEEP = {"upper_K": 180.0, "lower_K": 172.0, "rate_K_per_min": 2.0, "point_every_K": 1.0,
               "readings_per_point": 1, "thermalise_s": 30.0, "stable_s": 10.0}


@pytest.fixture(autouse=True)
def process_clock_restored():
    """A simulated lab installs its virtual clock as the process clock; put the previous back."""
    previous = clocks.current()
    yield
    clocks.use(previous)


# ---- the source: no server, no code execution ---------------------------------------------------

SERVER_MODULES = ("socketserver", "http.server", "xmlrpc", "wsgiref", "zmq", "aiohttp", "flask", "websockets",
                  "tornado", "twisted")
SERIALISERS = ("pickle", "cPickle", "_pickle", "marshal", "shelve", "dill", "cloudpickle", "jsonpickle")
SERVER_NAMES = {"start_server", "start_unix_server", "create_server", "create_unix_server", "serve_forever",
                "create_datagram_endpoint", "QTcpServer", "QLocalServer", "QUdpSocket", "QSslServer",
                "QWebSocketServer", "QHttpServer", "HTTPServer", "TCPServer", "UDPServer", "SimpleXMLRPCServer"}
SOCKET_SERVER_CALLS = {"listen", "bind"}  # a server socket binds and listens (accept: also Qt's events)
CODE_BUILTINS = {"eval", "exec", "compile", "__import__", "breakpoint"}
UNSAFE_YAML = {"unsafe_load", "unsafe_load_all", "full_load", "full_load_all", "Loader", "UnsafeLoader", "FullLoader",
               "CLoader", "CUnsafeLoader", "CFullLoader"}
SAFE_LOADERS = {"SafeLoader", "CSafeLoader", "BaseLoader", "CBaseLoader"}
SHELL_CALLS = {("os", "system"), ("os", "popen"), ("os", "execv"), ("os", "execvp"), ("os", "execl"),
               ("os", "execlp"), ("os", "spawnv"), ("os", "spawnl"), ("os", "startfile"), ("pty", "spawn")}
# Imports by a computed name, each drawn from a fixed place: the instrument drivers a lab file
# names (prefixed with daclab.instruments), the command table, the view table, the twins' package.
DYNAMIC_IMPORTS = {("daclab/lab.py", "import_driver"), ("daclab/cli.py", "main"),
                   ("daclab/gui/view_base.py", "view_for"), ("daclab/sim/twins/__init__.py", "<module>")}


def _dotted(node: ast.AST) -> str:
    """'a.b.c' of a Name/Attribute chain ('' for anything else)."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return ""


def _safe_loader(call: ast.Call) -> bool:
    loaders = [keyword.value for keyword in call.keywords if keyword.arg == "Loader"] + call.args[1:2]
    return any(_dotted(loader).split(".")[-1] in SAFE_LOADERS for loader in loaders)


class _Scanner(ast.NodeVisitor):
    def __init__(self, name: str):
        self.name = name
        self.findings: list[str] = []
        self.function = ["<module>"]

    def flag(self, node: ast.AST, what: str) -> None:
        self.findings.append(f"{self.name}:{getattr(node, 'lineno', 0)}: {what}")

    def visit_FunctionDef(self, node) -> None:
        self.function.append(node.name)
        self.generic_visit(node)
        self.function.pop()

    visit_AsyncFunctionDef = visit_FunctionDef

    def _module(self, node: ast.AST, module: str) -> None:
        for banned in SERVER_MODULES:
            if module == banned or module.startswith(banned + "."):
                self.flag(node, f"imports the server module {module}")
        if module.split(".")[0] in SERIALISERS:
            self.flag(node, f"imports {module}, which can build any object from its input")

    def visit_Import(self, node) -> None:
        for alias in node.names:
            self._module(node, alias.name)

    def visit_ImportFrom(self, node) -> None:
        module = node.module or ""
        self._module(node, module)
        for alias in node.names:
            self._module(node, f"{module}.{alias.name}")
            if alias.name in SERVER_NAMES or (module == "yaml" and alias.name in UNSAFE_YAML):
                self.flag(node, f"imports {alias.name} from {module}")

    def visit_Attribute(self, node) -> None:
        if node.attr in SERVER_NAMES:
            self.flag(node, f"uses {node.attr}")
        if _dotted(node.value) == "yaml" and node.attr in UNSAFE_YAML:
            self.flag(node, f"uses yaml.{node.attr}")
        self.generic_visit(node)

    def visit_Name(self, node) -> None:
        if node.id in SERVER_NAMES:
            self.flag(node, f"uses {node.id}")

    def visit_Call(self, node) -> None:
        name = _dotted(node.func)
        if isinstance(node.func, ast.Name) and node.func.id in CODE_BUILTINS:
            self.flag(node, f"calls {node.func.id}()")
        if isinstance(node.func, ast.Attribute) and node.func.attr in SOCKET_SERVER_CALLS:
            self.flag(node, f"calls .{node.func.attr}() (a server socket)")
        if name in ("yaml.load", "yaml.load_all") and not _safe_loader(node):
            self.flag(node, f"calls {name} without a safe loader")
        if tuple(name.split(".")[-2:]) in SHELL_CALLS or name.split(".")[-1] in {"system", "popen"}:
            self.flag(node, f"calls {name}() (a shell)")
        if any(keyword.arg == "shell" and not (isinstance(keyword.value, ast.Constant) and not keyword.value.value)
               for keyword in node.keywords):
            self.flag(node, f"calls {name or 'something'} with shell=True")
        if name in ("importlib.import_module", "import_module") and node.args \
                and not isinstance(node.args[0], ast.Constant) \
                and (self.name, self.function[-1]) not in DYNAMIC_IMPORTS:
            self.flag(node, f"imports a module by a computed name in {self.function[-1]}()")
        self.generic_visit(node)


def scan(source: str, name: str) -> list[str]:
    scanner = _Scanner(name)
    scanner.visit(ast.parse(source, filename=name))
    return scanner.findings


def package_sources() -> Iterator[tuple[str, str]]:
    for folder in PACKAGE_FOLDERS:
        for path in sorted((REPO / folder).rglob("*.py")):
            yield path.relative_to(REPO).as_posix(), path.read_text(encoding="utf-8")


def test_the_scan_finds_every_server_and_code_execution_api():
    hostile = """import yaml, os, subprocess, asyncio, importlib
import socketserver, pickle
from http.server import HTTPServer
from xmlrpc.server import SimpleXMLRPCServer
eval("1")
exec("x = 1")
compile("1", "f", "eval")
__import__(name)
yaml.load(text)
yaml.load(text, Loader=yaml.FullLoader)
yaml.unsafe_load(text)
yaml.full_load(text)
subprocess.run("ls", shell=True)
os.system("ls")
sock.bind(("0.0.0.0", 80))
sock.listen(5)
asyncio.start_server(handle, port=8000)
loop.create_server(factory)
server = QTcpServer()
importlib.import_module(name)
"""
    found = scan(hostile, "hostile.py")
    lines = sorted({int(line.split(":")[1]) for line in found})
    assert lines == list(range(2, len(hostile.splitlines()) + 1)), found  # every line after the first
    harmless = """
import re, yaml, subprocess, importlib
re.compile("x")
yaml.safe_load(text)
yaml.load(text, Loader=yaml.SafeLoader)
yaml.load(text, yaml.CSafeLoader)
subprocess.run(["ls"], shell=False)
importlib.import_module("daclab.report")
"""
    assert scan(harmless, "harmless.py") == []


def test_the_package_has_no_server_and_runs_no_code_from_its_input():
    sources = dict(package_sources())
    assert {"daclab/lab.py", "daclab/sequence_file.py", "instruments/ami430.py", "procedures/base.py"} <= set(sources)
    findings = [finding for name, text in sources.items() for finding in scan(text, name)]
    assert findings == []
    assert {name for name, _ in DYNAMIC_IMPORTS} <= set(sources)  # the exceptions still name real files


# ---- the process at work: nothing listens -------------------------------------------------------


@pytest.fixture
def socket_calls(monkeypatch):
    """Every bind, listen, connect and accept made through Python's socket module, recorded."""
    calls: list[tuple[str, int, tuple]] = []
    for name in ("bind", "listen", "connect", "connect_ex", "accept"):
        original = getattr(socket.socket, name)

        def recorded(self, *args, _name=name, _original=original):
            calls.append((_name, self.family, args))
            return _original(self, *args)

        monkeypatch.setattr(socket.socket, name, recorded)
    return calls


def _own_socket_inodes() -> set[int]:
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            link = os.readlink(f"/proc/self/fd/{fd}")
            if link.startswith("socket:["):
                inodes.add(int(link[8:-1]))
    return inodes


def listening_sockets() -> set[tuple[str, str]]:
    """(table, local address) of this process's TCP sockets in LISTEN and bound UDP sockets,
    from the kernel's tables: a listener opened by C code (Qt, a library) shows here too."""
    own, found = _own_socket_inodes(), set()
    for table in ("tcp", "tcp6", "udp", "udp6"):
        with contextlib.suppress(FileNotFoundError):
            rows = Path(f"/proc/net/{table}").read_text().splitlines()[1:]
            for row in rows:
                fields = row.split()
                local, state, inode = fields[1], fields[3], int(fields[9])
                serving = state == "0A" if table.startswith("tcp") else not local.endswith(":0000")
                if inode in own and serving:
                    found.add((table, local))
    return found


def _loopback(address) -> bool:
    if isinstance(address, tuple) and address:
        with contextlib.suppress(ValueError):
            return ipaddress.ip_address(address[0]).is_loopback
        return address[0] == "localhost"
    return isinstance(address, (str, bytes))  # a local (Unix) socket path: not on the network


LINUX_TABLES = pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads the kernel's socket tables (Linux)")


@LINUX_TABLES
def test_the_listener_checks_see_a_socket_that_listens(socket_calls):
    before = listening_sockets()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        assert listening_sockets() - before == {("tcp", f"0100007F:{port:04X}")}
    assert [call[0] for call in socket_calls] == ["bind", "listen"] and _loopback(socket_calls[0][2][0])
    assert listening_sockets() == before


@LINUX_TABLES
def test_nothing_listens_while_a_sequence_runs_and_the_window_is_open(qtbot, tmp_path, socket_calls):
    from daclab.gui.main_window import MainWindow

    before = listening_sockets()
    spec = sequence_from_dict({"name": "quiet night", "lab": "simulated", "steps": [
        {"rt_sweep": QUICK_SWEEP}, {"set_field": {"field_T": 0.2, "rate_T_per_min": 0.5}}, {"wait": {"minutes": 2}}]})
    outcome = run_sequence(spec, out=tmp_path / "cli", simulation=SIMULATION)
    assert outcome.status == "finished", outcome.error
    open_after_run = listening_sockets() - before

    lab = Lab.open("simulated", **SIMULATION)
    window = MainWindow(lab, tmp_path / "window", lab_file="simulated")
    try:
        window.show()
        window.queue(sequence_from_dict({"name": "from the window", "lab": "simulated",
                                         "steps": [{"wait": {"minutes": 2}}]}))
        qtbot.waitUntil(lambda: not window.controller.is_running(), timeout=30_000)
        qtbot.wait(1200)  # the status panel has polled the instruments meanwhile
        open_with_window = listening_sockets() - before
        assert window.controller.items()[-1].state == "finished"
    finally:
        window.shutdown()
        window.close()
        lab.close()
    assert open_after_run == set() and open_with_window == set()
    assert [call for call in socket_calls if call[0] in ("listen", "accept")] == []
    assert [call for call in socket_calls if call[0] == "bind" and not _loopback(call[2][0])] == []
    # a simulated lab reaches no instrument on the network (the magnet's lab file names an IP address)
    assert [call for call in socket_calls if call[0].startswith("connect") and not _loopback(call[2][0])] == []


# ---- input files cannot run code -----------------------------------------------------------------

PYTHON_TAGS = [
    '!!python/object/apply:os.system ["touch {marker}"]',
    "!!python/name:os.system",
    '!!python/object/new:os.system ["touch {marker}"]',
    '!!python/object/apply:subprocess.check_output [["touch", "{marker}"]]',
]
TAG_IDS = ["object-apply", "name", "object-new", "subprocess"]


@pytest.fixture(params=PYTHON_TAGS, ids=TAG_IDS)
def tagged(request, tmp_path):
    """(folder, the YAML value with a Python tag, the marker file it would create if it ran)."""
    marker = tmp_path / "MARKER"
    yield tmp_path, request.param.format(marker=marker), marker
    assert not marker.exists()


def _lab_text(value: str) -> str:
    return (f"name: {value}\nroles:\n  temperature: {{kind: temperature_controller, driver: "
            f"'lakeshore350:LakeShore350', resource: 'ASRL3::INSTR'}}\n")


def _tag_in(message: str) -> bool:
    return re.search(r"python/(object|name)", message) is not None


def test_a_python_tag_in_a_sequence_its_lab_or_its_sample_file_is_refused_without_running(tagged):
    folder, value, marker = tagged
    (folder / "lab.yaml").write_text(_lab_text(value), encoding="utf-8")
    (folder / "sample.yaml").write_text(f"name: cell\ncell: {value}\n", encoding="utf-8")
    (folder / "model.yaml").write_text(f"name: model\ntc_K: {value}\n", encoding="utf-8")
    cases = {
        "sequence": f"name: {value}\nlab: simulated\nsteps:\n  - wait: {{minutes: 1}}\n",
        "step": f"name: s\nlab: simulated\nsteps:\n  - wait:\n      minutes: {value}\n",
        "lab file": "name: s\nlab: lab.yaml\nsteps:\n  - wait: {minutes: 1}\n",
        "sample file": "name: s\nlab: simulated\nsample: sample.yaml\nsteps:\n  - wait: {minutes: 1}\n",
        "sample model": "name: s\nlab: simulated\nsample: model.yaml\nsteps:\n  - wait: {minutes: 1}\n",
    }
    for what, text in cases.items():
        path = folder / f"{what.replace(' ', '_')}.yaml"
        path.write_text(text, encoding="utf-8")
        with pytest.raises(SequenceError) as refused:
            load_sequence(path)
        assert _tag_in(str(refused.value)), (what, str(refused.value))
        assert not marker.exists(), what


def test_a_python_tag_in_a_lab_file_or_a_sample_preset_is_refused_without_running(tagged):
    folder, value, marker = tagged
    (folder / "lab.yaml").write_text(_lab_text(value), encoding="utf-8")
    (folder / "model.yaml").write_text(f"name: model\ntc_K: {value}\n", encoding="utf-8")
    for load in (lambda: load_lab(folder / "lab.yaml"), lambda: Lab.open(folder / "lab.yaml"),
                 lambda: load_sample(folder / "model.yaml"),
                 lambda: Lab.open("simulated", sample=str(folder / "model.yaml"))):
        with pytest.raises((ValueError, yaml.YAMLError)) as refused:
            load()
        assert _tag_in(str(refused.value)) and ".yaml" in str(refused.value)
        assert not marker.exists()


@pytest.mark.parametrize("option", [
    "--lab", "--sim"])
def test_daclab_gui_refuses_a_tagged_lab_or_sample_file_in_one_line(tmp_path, capsys, option):
    marker = tmp_path / "MARKER"
    value = PYTHON_TAGS[0].format(marker=marker)
    path = tmp_path / "hostile.yaml"
    path.write_text(_lab_text(value) if option == "--lab" else f"name: model\ntc_K: {value}\n", encoding="utf-8")
    assert gui_app.main([option, str(path)]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and _tag_in(error) and "hostile.yaml" in error
    assert not marker.exists()


def test_daclab_run_refuses_a_tagged_sample_before_making_a_run_folder(tmp_path, capsys):
    marker = tmp_path / "MARKER"
    (tmp_path / "model.yaml").write_text(f"name: model\ntc_K: {PYTHON_TAGS[0].format(marker=marker)}\n",
                                         encoding="utf-8")
    sequence = tmp_path / "seq.yaml"
    sequence.write_text("name: s\nlab: simulated\nsteps:\n  - wait: {minutes: 1}\n", encoding="utf-8")
    out = tmp_path / "out"
    code = main_run([str(sequence), "--sim", str(tmp_path / "model.yaml"), "--out", str(out)])
    assert not marker.exists()
    assert code == 2 and _tag_in(capsys.readouterr().err)
    assert not out.exists() or not any(path.is_dir() for path in out.iterdir())


def test_a_data_file_naming_a_module_in_its_header_does_not_import_it(tmp_path, monkeypatch, capsys):
    """pymeasure's own Results.load imports the module a file's '#Procedure:' line names; daclab's
    readers (analyze, the report, the window's re-plot) take the name as text only."""
    from daclab.gui.view_base import load_rows

    marker = tmp_path / "MARKER"
    (tmp_path / "planted_module.py").write_text(f"open({str(marker)!r}, 'w').close()\nclass Evil: pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    temperatures = [150.0 + 0.5 * k for k in range(60)]
    rows = "".join(f"{kelvin},{0.1 / (1 + 2.718281828 ** (-(kelvin - 165.0) / 0.8))}\n" for kelvin in temperatures)
    path = tmp_path / "01_rt_sweep.csv"
    path.write_text("#Procedure: <planted_module.Evil>\n#Parameters:\n#\tWindow top: 180 K\n#Data:\n"
                    "Temperature (K),Resistance (ohm)\n" + rows, encoding="utf-8")
    assert analyze.main(["tc", str(path), "--json"]) == 0
    result, = json.loads(capsys.readouterr().out)["results"]  # read and analysed: the logistic's middle
    assert result["midpoint_K"]["value"] == pytest.approx(165.0, abs=0.1)
    assert report.analyse_step(path).points == len(temperatures)
    assert len(load_rows(path)) == len(temperatures)
    assert not marker.exists() and "planted_module" not in sys.modules


# ---- a lab file reaches nothing but drivers ----------------------------------------------------


def _lab_specs() -> list[str]:
    specs = []
    for path in sorted((REPO / "daclab" / "labs").glob("*.yaml")):
        for role in load_lab(path).roles.values():
            specs += [role.driver] + ([role.adapter] if role.adapter else [])
    return sorted(set(specs))


@pytest.mark.parametrize("spec", _lab_specs())
def test_every_driver_of_the_built_in_labs_is_a_class_or_factory_of_daclab_instruments(spec):
    found = import_driver(spec)
    assert callable(found) and found.__module__.startswith("daclab.instruments.")


class _Spy:
    """A callable planted in a driver module: if the lab ever calls it, it says so."""

    def __init__(self):
        self.calls: list[tuple] = []

    def __call__(self, *args, **kwargs):
        self.calls.append((args, kwargs))


BAD_SPECS = ["keithley6221:os", "ami430:__builtins__", "../x:y", "os.path:join", "keithley6221:np",
             "lakeshore350:Instrument", "keithley6221:strict_range", "keithley6221:planted_spy",
             "keithley6221:Keithley6221.__init__", "keithley6221:"]


@pytest.mark.parametrize("spec", BAD_SPECS)
def test_a_lab_file_driver_that_is_not_a_driver_is_refused_before_anything_is_called(tmp_path, monkeypatch, spec):
    from daclab.instruments import keithley6221

    spy = _Spy()
    monkeypatch.setattr(keithley6221, "planted_spy", spy, raising=False)
    path = tmp_path / "lab.yaml"
    path.write_text(f"name: hostile\nroles:\n  temperature: {{kind: temperature_controller, driver: '{spec}', "
                    f"resource: 'ASRL3::INSTR'}}\n", encoding="utf-8")
    try:
        with pytest.raises(LabFileError, match=rf"roles\.temperature.*driver.*{re.escape(spec)}"):
            load_lab(path)  # refused as the file is read, before any lab exists
        with pytest.raises(LabFileError, match=re.escape(spec.split(":")[-1] or spec)):
            import_driver(spec)
    finally:
        if spy.calls:  # even when refused late, it must never have run
            pytest.fail(f"{spec} was called with {spy.calls}")


# ---- output stays in the data folder --------------------------------------------------------------

_WRITES: list[tuple[str, str]] | None = None
_WRITING_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


def _audit(event: str, args: tuple) -> None:
    """Python's audit hook (it cannot be removed; it records only while a test watches)."""
    writes = _WRITES
    if writes is None:
        return
    if event == "open":
        path, mode, flags = args
        writing = any(c in mode for c in "wax+") if isinstance(mode, str) else bool(flags & _WRITING_FLAGS)
        if writing and not isinstance(path, int):
            writes.append((event, os.path.abspath(os.fsdecode(path))))
    elif event in ("os.mkdir", "os.remove", "os.rmdir", "os.truncate", "sqlite3.connect", "os.symlink", "os.link",
                   "os.chmod", "os.utime"):
        if args and isinstance(args[0], (str, bytes, os.PathLike)):
            writes.append((event, os.path.abspath(os.fsdecode(args[0]))))
    elif event == "os.rename":  # also os.replace
        writes.extend((event, os.path.abspath(os.fsdecode(path))) for path in args[:2])


sys.addaudithook(_audit)


@contextlib.contextmanager
def watching_writes() -> Iterator[list[tuple[str, str]]]:
    """Every file written, created, renamed or removed by Python code in the block (audit
    events), as absolute paths; the interpreter's own bytecode cache is left out."""
    global _WRITES
    writes: list[tuple[str, str]] = []
    _WRITES = writes
    try:
        yield writes
    finally:
        _WRITES = None
        writes[:] = [(event, path) for event, path in writes if "__pycache__" not in Path(path).parts]


def tree(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``root`` with its size and modification time."""
    return {str(path): (path.stat().st_size, path.stat().st_mtime_ns)
            for path in root.rglob("*") if path.is_file()}


def _under(path: str, roots: list[str]) -> bool:
    return any(os.path.commonpath([path, root]) == root for root in roots)


def assert_written_only_under(writes: list[tuple[str, str]], *allowed: Path) -> None:
    """Every write is under (or is) one of ``allowed``; making the folders that lead to the
    first of them (a new --out folder) is allowed too."""
    roots = [os.path.realpath(root) for root in allowed]
    leading = {str(folder) for folder in Path(roots[0]).parents}
    outside = [(event, path) for event, path in writes if not _under(os.path.realpath(path), roots)
               and not (event == "os.mkdir" and os.path.realpath(path) in leading)]
    assert outside == [], outside


def assert_changed_only_under(before: dict, after: dict, *allowed: Path) -> None:
    """The files that appeared or changed (C code included, e.g. SQLite's own files) are all
    under ``allowed``; nothing outside them was removed."""
    roots = [os.path.realpath(root) for root in allowed]
    changed = [path for path in after if before.get(path) != after[path]]
    removed = [path for path in before if path not in after]
    assert [path for path in changed + removed if not _under(os.path.realpath(path), roots)] == []


RUN_FOLDER = re.compile(r"^\d{8}-\d{6}(-\d+)?_[A-Za-z0-9_\-]+$")
HOSTILE_NAMES = ["../../etc", "/abs/path", "a/../../b", "a\0b", "..", "~/x", "C:\\Windows\\x", "name\nwith lines",
                 "x" * 300]


@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=["parents", "absolute", "dotdot-inside", "nul", "dotdot", "home",
                                                     "windows", "newline", "300-chars"])
def test_a_hostile_sequence_or_sample_name_cannot_write_outside_the_data_folder(tmp_path, monkeypatch, name):
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    sequence = tmp_path / "in" / "night.yaml"
    sequence.parent.mkdir()
    sequence.write_text(yaml.safe_dump({"name": name, "lab": "simulated",
                                        "sample": {"name": f"../../{name}", "cell": "/etc/passwd"},
                                        "steps": [{"wait": {"minutes": 1}}]}), encoding="utf-8")
    spec = load_sequence(sequence)
    out = tmp_path / "out" / "data"
    before = tree(tmp_path)
    with watching_writes() as writes:
        outcome = run_sequence(spec, out=out, simulation=SIMULATION, report=False)
    assert outcome.status == "finished", outcome.error
    assert outcome.run_dir.resolve().parent == out.resolve()
    assert RUN_FOLDER.match(outcome.run_dir.name) and len(os.fsencode(outcome.run_dir.name)) <= 255
    assert {path.name for path in out.iterdir()} <= {outcome.run_dir.name, INDEX_NAME, INDEX_NAME + "-wal",
                                                     INDEX_NAME + "-shm", INDEX_NAME + "-journal"}
    assert writes and any(path.endswith("01_wait.csv") for _, path in writes)
    assert_written_only_under(writes, out)
    assert_changed_only_under(before, tree(tmp_path), out)
    assert list((tmp_path / "cwd").iterdir()) == []


def test_a_step_kind_that_is_a_path_is_refused(tmp_path):
    sequence = tmp_path / "night.yaml"
    sequence.write_text("name: s\nlab: simulated\nsteps:\n  - ../../wait: {minutes: 1}\n", encoding="utf-8")
    with pytest.raises(SequenceError, match=r"night.yaml:4: step 1: unknown kind '../../wait'"):
        load_sequence(sequence)


def test_run_resume_report_and_analyze_write_only_where_documented(tmp_path, monkeypatch, capsys):
    """daclab run --out D: D/<run folder>/ and D's index; daclab resume R: R and its data root's
    index; daclab report R: R/report/; daclab analyze: nothing at all."""
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    sequence = tmp_path / "in" / "night.yaml"
    sequence.parent.mkdir()
    sequence.write_text(yaml.safe_dump({"name": "../night", "lab": "simulated",
                                        "steps": [{"rt_sweep": QUICK_SWEEP}, {"wait": {"minutes": 1}}]}),
                        encoding="utf-8")
    out = tmp_path / "out"

    def index_files() -> list[Path]:
        return [out / name for name in (INDEX_NAME, INDEX_NAME + "-wal", INDEX_NAME + "-shm", INDEX_NAME + "-journal")]

    before = tree(tmp_path)
    with watching_writes() as writes:
        assert main_run([str(sequence), "--sim", "lace_h10_cell2", "--out", str(out)]) == 0
    finished, = [path for path in out.iterdir() if path.is_dir()]
    assert_written_only_under(writes, out)
    assert_changed_only_under(before, tree(tmp_path), out)

    # an interrupted run, then resumed from the command line
    points = []
    aborted = run_sequence(load_sequence(sequence), out=out, simulation=SIMULATION, report=False,
                           should_stop=lambda: len(points) > 3,
                           on_event=lambda step, topic, record: points.append(1) if topic == "results" else None)
    assert aborted.status == "aborted"
    before = tree(tmp_path)
    with watching_writes() as writes:
        assert main_resume([str(aborted.run_dir)]) == 0
    assert_written_only_under(writes, aborted.run_dir, *index_files())
    assert_changed_only_under(before, tree(tmp_path), aborted.run_dir, *index_files())

    before = tree(tmp_path)
    with watching_writes() as writes:
        assert report.main([str(finished)]) == 0
    assert writes
    assert_written_only_under(writes, finished / REPORT_FOLDER)
    assert_changed_only_under(before, tree(tmp_path), finished / REPORT_FOLDER)

    data_file = step_files(finished)[0]
    before = tree(tmp_path)
    with watching_writes() as writes:
        assert analyze.main(["tc", str(data_file), "--json"]) == 0
    assert writes == [] and tree(tmp_path) == before
    assert list((tmp_path / "cwd").iterdir()) == []
    capsys.readouterr()
