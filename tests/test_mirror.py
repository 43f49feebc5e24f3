"""The tests mirror the product code, so a reader goes from a module to its tests by path (mitmproxy's
test/filename_matching.py idea).

Every product module `cli/x/name.py`, `proxy/…`, `profiles/…` has `tests/cli/x/test_name.py` (a package's
`__init__.py` that defines functions or classes counts as a module named after its package). A module whose tests
live elsewhere is listed in TESTED_IN with that file, and a folder of tests inside tests/cli/, tests/proxy/ or
tests/profiles/ mirrors a product package. Cross-cutting suites (tests/reliability/, tests/security/) and
end-to-end files beside the mirrored ones are free-standing.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PRODUCT = ("cli", "proxy", "profiles")

# Modules tested under another name: the test file that holds their tests, and why it is not their own.
# Keep it short; a module that gains its mirrored test file leaves this list (the test below says so).
TESTED_IN: dict[str, str] = {
    # The bridge end to end through the official SDK: the server, relay, upstream client, runner and config
    # are one request's path, tested as one.
    "proxy/server.py": "tests/proxy/test_bridge.py",
    "proxy/relay.py": "tests/proxy/test_bridge.py",
    "proxy/upstream.py": "tests/proxy/test_bridge.py",
    "proxy/runner.py": "tests/proxy/test_bridge.py",
    "proxy/config.py": "tests/proxy/test_bridge.py",
    "proxy/memory.py": "tests/reliability/test_load.py",  # memory bounded and flat: measured under load
    "proxy/connguard.py": "tests/security/test_bridge_limits.py",
    "proxy/wire_errors.py": "tests/security/test_bridge_limits.py",  # oversized heads answered in Anthropic JSON
    "proxy/logsetup.py": "tests/security/test_secret_files.py",  # the log file's mode and rotation
    "proxy/privatefiles.py": "tests/security/test_secret_files.py",
    "proxy/entry.py": "tests/reliability/test_faults.py",  # every real `ccb serve` hands its spec over here
    "proxy/keeper.py": "tests/security/test_other_users.py",  # the keeper holds the port: a security guarantee
    # The translator's pieces below `request`/`stream`, tested through their tables and fixtures.
    "proxy/translate/response.py": "tests/proxy/translate/test_stream.py",  # accumulate folds every fixture
    "proxy/translate/tools.py": "tests/proxy/test_new_shapes.py",
    "proxy/translate/client_tools.py": "tests/proxy/translate/test_content.py",
    "proxy/capabilities.py": "tests/proxy/translate/test_thinking.py",  # a refused thinking switch, remembered
    # Web search: the translator's blocks, the loop and the backends, one feature through the bridge.
    "proxy/translate/websearch.py": "tests/proxy/test_websearch.py",
    "proxy/websearch/backends.py": "tests/proxy/test_websearch.py",
    "proxy/websearch/loop.py": "tests/proxy/test_websearch.py",
    "proxy/websearch/spec.py": "tests/proxy/test_websearch.py",
    # Engine families: one probe table row per engine (identify, context, tools), and the model listings.
    "cli/engines/llamacpp.py": "tests/cli/engines/test_probe.py",
    "cli/engines/lmstudio.py": "tests/cli/engines/test_probe.py",
    "cli/engines/ollama.py": "tests/cli/engines/test_probe.py",
    "cli/engines/sglang.py": "tests/cli/engines/test_probe.py",
    "cli/engines/vllm.py": "tests/cli/engines/test_probe.py",
    "cli/engines/others.py": "tests/cli/engines/test_probe.py",
    "cli/engines/status.py": "tests/cli/engines/test_probe.py",
    "cli/engines/http.py": "tests/cli/engines/test_probe.py",
    "cli/engines/catalog.py": "tests/cli/engines/test_probe.py",
    "cli/engines/reply.py": "tests/cli/engines/test_probe.py",
    "cli/engines/facts.py": "tests/cli/engines/test_families.py",
    # Doctor's checks run as `ccb doctor` against fakes; each test reads the checks of one area.
    "cli/doctor/run.py": "tests/cli/commands/test_doctor.py",
    "cli/doctor/context.py": "tests/cli/commands/test_doctor.py",
    "cli/doctor/url.py": "tests/cli/commands/test_doctor.py",
    "cli/doctor/bridge.py": "tests/cli/commands/test_doctor.py",
    "cli/doctor/claude.py": "tests/cli/test_claude_versions.py",
    "cli/doctor/engine.py": "tests/cli/doctor/test_backend.py",
    "cli/doctor/smoke.py": "tests/cli/doctor/test_backend.py",
    "cli/doctor/embedded.py": "tests/cli/test_embedded.py",  # with the built-in engine it checks
    # Commands whose behaviour is one journey with a service's.
    "cli/commands/setup.py": "tests/cli/test_onboard.py",
    "cli/commands/restore.py": "tests/cli/test_switch.py",
    "cli/commands/serve.py": "tests/reliability/test_faults.py",  # flags and limits through a real `ccb serve`
    "cli/commands/logs.py": "tests/cli/test_app.py",
    "cli/bridge_daemon.py": "tests/cli/test_switch.py",
    # The login service takes the bridge's port back at login: a security guarantee, tested with the others.
    "cli/login_service.py": "tests/security/test_login_service.py",
    "cli/bridge_boot.py": "tests/security/test_login_service.py",
    "cli/plan.py": "tests/cli/commands/test_launch_env.py",  # the env block Claude Code gets, slot by slot
    "cli/paths.py": "tests/cli/test_profile_store.py",
    # Private files from the first byte: a security guarantee, tested with the other ones.
    "cli/fileio.py": "tests/security/test_secret_files.py",
    "cli/logfile.py": "tests/security/test_secret_files.py",
    "profiles/__init__.py": "tests/profiles/test_presets.py",  # the preset loader, and every shipped preset
}


def product_modules() -> list[str]:
    found = []
    for folder in PRODUCT:
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path.name == "__main__.py":
                continue
            if path.name == "__init__.py":
                defined = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
                if not any(isinstance(node, defined) for node in ast.parse(path.read_text()).body):
                    continue  # a docstring and re-exports: nothing of its own to test
            found.append(path.relative_to(ROOT).as_posix())
    return found


def mirrored_test(module: str) -> str:
    path = Path(module)
    name = path.parent.name if path.name == "__init__.py" else path.stem
    return f"tests/{path.parent.as_posix()}/test_{name}.py"


def test_every_module_has_its_test_file() -> None:
    missing = [
        f"{module}: add {mirrored_test(module)}"
        for module in product_modules()
        if not (ROOT / mirrored_test(module)).exists() and module not in TESTED_IN
    ]
    assert not missing, "modules without their mirrored test file:\n" + "\n".join(missing)


def test_the_tested_elsewhere_list_is_current() -> None:
    modules = set(product_modules())
    stale = [f"{m}: no such module" for m in TESTED_IN if m not in modules]
    stale += [f"{m}: has {mirrored_test(m)} now" for m in TESTED_IN if (ROOT / mirrored_test(m)).exists()]
    stale += [f"{m}: {test} does not exist" for m, test in TESTED_IN.items() if not (ROOT / test).exists()]
    assert not stale, "TESTED_IN needs updating:\n" + "\n".join(stale)


def test_test_folders_mirror_product_packages() -> None:
    strays = [
        folder.relative_to(ROOT).as_posix()
        for product in PRODUCT
        for folder in (ROOT / "tests" / product).rglob("*")
        if folder.is_dir() and folder.name != "__pycache__" and not (ROOT / folder.relative_to(ROOT / "tests")).is_dir()
    ]
    assert not strays, f"test folders with no product package of that name: {strays}"
