#!/usr/bin/env bash
# Code checks: ruff's lint rules over the product code (cli/, proxy/, profiles/) and over tests/, bench/ and
# completions/, ruff's formatting (product code and tests/), and mypy --strict over the product code. Runs every
# check and fails when any fails. Uses the virtualenv tests/run.sh uses (.venv, or $CCB_VENV), making it and
# installing the test extra (which pins ruff and mypy) first when needed.
#
# mypy cannot follow pyproject's package-dir mapping (ccb.cli -> cli/, ccb.proxy -> proxy/, ccb.profiles ->
# profiles/), so it checks a ccb/ tree of symbolic links to the three folders (the layout the wheel installs), kept
# beside its cache in .mypy_cache/, and its messages are rewritten to the paths in this repository.
set -uo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
venv="${CCB_VENV:-.venv}"
case "$venv" in /*) ;; *) venv="$root/$venv" ;; esac
product=(cli proxy profiles)

[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
if ! out=$("$venv/bin/python" -m pip install --quiet --disable-pip-version-check -e "$root[test]" 2>&1); then
  printf '%s\n' "$out" >&2
  exit 1
fi

failed=()
"$venv/bin/ruff" check --no-cache "${product[@]}" tests bench completions || failed+=("ruff check")
"$venv/bin/ruff" format --no-cache --check "${product[@]}" tests || failed+=("ruff format --check")

tree="$root/.mypy_cache/tree"
mkdir -p "$tree/ccb"
for folder in "${product[@]}"; do
  ln -sfn "$root/$folder" "$tree/ccb/$folder"
done
(cd "$tree" && "$venv/bin/mypy" --config-file "$root/pyproject.toml" --cache-dir "$root/.mypy_cache" -p ccb) \
  | sed 's#^ccb/##' || failed+=("mypy --strict")

if [ "${#failed[@]}" -gt 0 ]; then
  printf 'tests/check.sh: %s failed\n' "${failed[@]}" >&2
  exit 1
fi
echo "tests/check.sh: ruff check, ruff format --check and mypy --strict passed"
