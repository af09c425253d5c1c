#!/usr/bin/env bash
# Does the *built* package work, not only the editable install? Build the sdist and the wheel,
# install the wheel with its [test] extra into a fresh virtual environment (torch first), and run
# the test suite from a copy of tests/ outside the source tree, so that src/ cannot be imported.
#
#   bash bench/check_wheel.sh                 # from anywhere; about 10 minutes on 2 cores
#   PYTEST_ARGS="-q -x tests/test_io.py" bash bench/check_wheel.sh   # a subset
#
# Fails when: the build or the install prints a warning about the package (deprecations, package
# data, license files; pip's and setuptools' own notices are listed below and not counted), the
# wheel lacks its package data, jetae imports from anywhere but the fresh environment, or a test
# fails. Writes WORK/summary.json (WORK defaults to a new /tmp/jetae-wheel.XXXXXX) and the logs.
# Environment: PYTHON (default python3) makes the venv; BUILD_PYTHON (default: PYTHON) must have
# `build` installed; TORCH_SPEC (default torch==2.13.0, the CPU build); KEEP=1 keeps WORK.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PYTHON=${PYTHON:-python3}
BUILD_PYTHON=${BUILD_PYTHON:-$PYTHON}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
PYTEST_ARGS=${PYTEST_ARGS:--q tests}
WORK=${WORK:-$(mktemp -d /tmp/jetae-wheel.XXXXXX)}
mkdir -p "$WORK"
echo "check_wheel: working in $WORK"
start=$(date +%s)

# Warnings about the machine, not about this package: setuptools' byte-compiling notice
# (PYTHONDONTWRITEBYTECODE is set in some environments), pip's notes on configured index
# locations that do not exist, and on running as root.
benign="byte-compiling is disabled|^WARNING: Location '[^']*' is ignored|^WARNING: Running pip as the .root. user"

fail() { echo "check_wheel: FAILED: $*" >&2; exit 1; }

warnings_in() {  # the lines of a log that warn (case-insensitive), less the benign ones
    grep -iE 'warn|deprecat' "$1" | grep -viE "$benign" || true
}

# 1. Build: sdist, then the wheel from the sdist (what `pip install jetae` from an sdist would do).
#    A copy of the tracked files keeps build/ and *.egg-info out of the source tree.
src_copy="$WORK/source"
rm -rf "$src_copy" && mkdir -p "$src_copy"
git -C "$REPO" ls-files -z --cached --others --exclude-standard | (cd "$REPO" && xargs -0 cp --parents -t "$src_copy" 2>/dev/null || true)
build_start=$(date +%s)
"$BUILD_PYTHON" -m build --outdir "$WORK/dist" "$src_copy" >"$WORK/build.log" 2>&1 || { tail -30 "$WORK/build.log"; fail "build"; }
build_s=$(( $(date +%s) - build_start ))
build_warnings=$(warnings_in "$WORK/build.log")
[ -z "$build_warnings" ] || { echo "$build_warnings"; fail "the build warned (log: $WORK/build.log)"; }
wheel=$(ls "$WORK"/dist/jetae-*.whl)
echo "check_wheel: built $(basename "$wheel") in ${build_s}s, no warnings"

# 2. Package data: everything the package reads at run time must be inside the wheel.
"$PYTHON" - "$wheel" "$src_copy" <<'EOF' || fail "package data missing from the wheel"
import sys, zipfile
from pathlib import Path
wheel, repo = sys.argv[1], Path(sys.argv[2])
names = set(zipfile.ZipFile(wheel).namelist())
wanted = [p.relative_to(repo / "src").as_posix() for p in (repo / "src" / "jetae").rglob("*")
          if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"]
missing = [name for name in wanted if name not in names]
print(f"check_wheel: {len(wanted)} package files (code and data) in the wheel, {len(missing)} missing")
for name in missing:
    print("  missing:", name)
sys.exit(1 if missing else 0)
EOF

# 3. A fresh environment: no system site-packages, torch first, then the wheel with [test].
rm -rf "$WORK/venv"
"$PYTHON" -m venv "$WORK/venv"
venv_py="$WORK/venv/bin/python"
install_start=$(date +%s)
"$venv_py" -m pip install --quiet "$TORCH_SPEC" >"$WORK/install_torch.log" 2>&1 || { tail -20 "$WORK/install_torch.log"; fail "torch install"; }
"$venv_py" -m pip install "${wheel}[test]" >"$WORK/install.log" 2>&1 || { tail -30 "$WORK/install.log"; fail "wheel install"; }
install_s=$(( $(date +%s) - install_start ))
install_warnings=$(warnings_in "$WORK/install.log")
[ -z "$install_warnings" ] || { echo "$install_warnings"; fail "the install warned (log: $WORK/install.log)"; }
echo "check_wheel: installed into a fresh venv in ${install_s}s, no warnings"

# 4. The tests, from a copy outside the source tree (examples/ too: two tests run its files;
#    pyproject.toml only for pytest's settings: nothing under src/ is copied).
tree="$WORK/tree"
rm -rf "$tree" && mkdir -p "$tree"
cp -r "$REPO/tests" "$REPO/examples" "$REPO/pyproject.toml" "$tree/"
find "$tree" -name __pycache__ -prune -exec rm -rf {} +
cd "$tree"
where=$(env -u PYTHONPATH "$venv_py" -c "import jetae, os; print(os.path.dirname(jetae.__file__))")
case "$where" in
    "$WORK/venv/"*) echo "check_wheel: jetae imports from $where" ;;
    *) fail "jetae imports from $where, not from the fresh environment" ;;
esac
test_start=$(date +%s)
set +e
env -u PYTHONPATH PATH="$WORK/venv/bin:$PATH" JETAE_CACHE_DIR="$WORK/cache" \
    "$venv_py" -m pytest -p no:cacheprovider $PYTEST_ARGS 2>&1 | tee "$WORK/pytest.log"
status=${PIPESTATUS[0]}
set -e
test_s=$(( $(date +%s) - test_start ))
summary_line=$(grep -E '^(=+ )?[0-9]+ (passed|failed)' "$WORK/pytest.log" | tail -1 | sed 's/=//g; s/^ *//; s/ *$//')
total_s=$(( $(date +%s) - start ))
cat >"$WORK/summary.json" <<EOF
{"wheel": "$(basename "$wheel")", "pytest_exit": $status, "pytest": "$summary_line",
 "build_s": $build_s, "install_s": $install_s, "tests_s": $test_s, "total_s": $total_s,
 "jetae_imported_from": "$where", "torch": "$TORCH_SPEC"}
EOF
cat "$WORK/summary.json"
[ "$status" -eq 0 ] || fail "tests (exit $status; log: $WORK/pytest.log)"
echo "check_wheel: OK ($summary_line; ${total_s}s in all)"
[ "${KEEP:-0}" = 1 ] || rm -rf "$WORK/venv" "$WORK/source" "$WORK/tree" "$WORK/cache"
