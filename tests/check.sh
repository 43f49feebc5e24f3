#!/usr/bin/env bash
# Code checks over the product code (cli/, proxy/, profiles/): ruff's lint rules, ruff's formatting (also over
# tests/), and mypy --strict. Runs every check and fails when any fails. Expects the virtualenv tests/run.sh makes
# (.venv, or $CCB_VENV) with the test extra, which pins ruff and mypy.
#
# mypy cannot follow pyproject's package-dir mapping (ccb.cli -> cli/, ccb.proxy -> proxy/, ccb.profiles ->
# profiles/), so it checks a throw-away ccb/ tree of symbolic links to the three folders, the layout the wheel
# installs, and its messages are rewritten to the paths in this repository.
set -uo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
venv="${CCB_VENV:-.venv}"
case "$venv" in /*) ;; *) venv="$root/$venv" ;; esac
product=(cli proxy profiles)

failed=()
"$venv/bin/ruff" check --no-cache "${product[@]}" || failed+=("ruff check")
"$venv/bin/ruff" format --no-cache --check "${product[@]}" tests || failed+=("ruff format --check")

tree="$(mktemp -d)"
trap 'rm -rf "$tree"' EXIT
mkdir "$tree/ccb"
for folder in "${product[@]}"; do
  ln -s "$root/$folder" "$tree/ccb/$folder"
done
(cd "$tree" && "$venv/bin/mypy" --config-file "$root/pyproject.toml" --cache-dir "$root/.mypy_cache" -p ccb) \
  | sed 's#^ccb/##' || failed+=("mypy --strict")

if [ "${#failed[@]}" -gt 0 ]; then
  printf 'tests/check.sh: failed: %s\n' "$(IFS=,; echo "${failed[*]}" | sed 's/,/, /g')" >&2
  exit 1
fi
echo "tests/check.sh: ruff check, ruff format --check and mypy --strict passed"
