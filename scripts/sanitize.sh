#!/usr/bin/env bash
# Build rnnkit with AddressSanitizer + UndefinedBehaviorSanitizer
# (CMake option RNNKIT_SANITIZE) into a throwaway virtual environment and run
# the tests of the C++ core under it, once per SIMD path class: the default
# (best path the CPU runs, AVX2/AVX-512 on x86-64) and RNNKIT_SIMD=portable.
# Any sanitizer report aborts the run, so a zero exit status means clean.
#
#   scripts/sanitize.sh [extra pytest arguments, e.g. -x -k lstm]
#
# Environment:
#   SANITIZE_VENV  venv to create/reuse (default: a new temporary directory)
#   SANITIZE_BUILD CMake build dir (default: next to the venv; never the
#                  repository's build/, which belongs to the editable install)
#   PYTHON         interpreter for the venv (default: python3)
# Set SANITIZE_VENV and SANITIZE_BUILD to reuse them: a rerun then only
# recompiles what changed (the first run also installs the test extras).
#
# Linux with GCC: the runtimes preloaded are GCC's libasan/libubsan, which
# match only a GCC-built module (a Clang build would need Clang's runtimes).
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
tmp="$(mktemp -d)"
venv="${SANITIZE_VENV:-$tmp/venv}"
build="${SANITIZE_BUILD:-$tmp/build}"
python="${PYTHON:-python3}"

# On failure keep the temporary directory (venv and build, to rerun a test by
# hand under the same LD_PRELOAD/ASAN_OPTIONS); on success remove it.
trap 'echo "sanitize.sh: FAILED; venv and build kept in $tmp (or SANITIZE_VENV/SANITIZE_BUILD)" >&2' ERR

# The tests that exercise the C++ core (test_torch.py is a cross-check
# against PyTorch, not needed here); the fuzz test is where a sanitizer
# earns its keep.
tests=(
  tests/test_core.py
  tests/test_gradcheck.py
  tests/test_bad_input.py
  tests/test_threads.py
  tests/test_simd.py
  tests/test_inference.py
  tests/test_optim_kernels.py
  tests/test_fuzz.py
)

# --- build -------------------------------------------------------------------
t0=$SECONDS
[[ -x "$venv/bin/python" ]] || "$python" -m venv "$venv"
# Non-editable install, own build dir; RelWithDebInfo (-O2 -g) keeps the
# kernels fast enough for the test suite and the reports symbolised.
"$venv/bin/python" -m pip install --quiet "$repo[test]" \
  -C build-dir="$build" \
  -C cmake.define.RNNKIT_SANITIZE=ON \
  -C cmake.build-type=RelWithDebInfo
build_time=$((SECONDS - t0))

# --- sanitizer runtime ---------------------------------------------------------
# The interpreter is not built with ASan, so its runtime must be loaded first.
asan="$(gcc -print-file-name=libasan.so)"
ubsan="$(gcc -print-file-name=libubsan.so)"
for lib in "$asan" "$ubsan"; do
  [[ -f "$lib" ]] || { echo "sanitize.sh: $lib not found (install GCC's libasan/libubsan)" >&2; exit 2; }
done
sanitized_env=(
  LD_PRELOAD="$asan:$ubsan"
  # detect_leaks=0: CPython frees not everything at exit, LeakSanitizer would
  # report that. halt/abort_on_error: the first report ends the run non-zero.
  # allocator_may_return_null=1: a too-large malloc returns NULL as it does
  # without ASan (test_bad_input asks NumPy for 2**53 bytes and expects a
  # MemoryError) instead of ASan's allocation-size-too-big abort.
  ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:abort_on_error=1:allocator_may_return_null=1"
  UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
)

# Run from the repository root: python/ is not on sys.path, so `import rnnkit`
# must find the venv's installed (sanitized) copy. Check that it does, and that
# it is the sanitized build, under the sanitizer, before spending time on the tests.
cd "$repo"
env "${sanitized_env[@]}" "$venv/bin/python" - "$venv" <<'EOF'
import os, sys
import rnnkit
from rnnkit import _core
venv = os.path.realpath(sys.argv[1])
for mod in (rnnkit, _core):
    path = os.path.realpath(mod.__file__)
    assert path.startswith(venv + os.sep), f"{mod.__name__} imported from {path}, not {venv}"
# an unsanitized module (a stale install pip kept) would make a clean run meaningless
with open(_core.__file__, "rb") as f:
    assert b"__asan_init" in f.read(), f"{_core.__file__} is not built with AddressSanitizer"
print(f"sanitize.sh: rnnkit from {os.path.dirname(rnnkit.__file__)}")
EOF

# --- tests -----------------------------------------------------------------------
# -p no:cacheprovider: leave no .pytest_cache in a repository others work in.
# --capture=sys: pytest captures Python's sys.stdout/err only, so a sanitizer
# report (written by C to file descriptor 2) reaches the terminal even when
# the process aborts; the default fd capture would swallow it.
t1=$SECONDS
for simd in default portable; do
  echo "sanitize.sh: tests, SIMD path: $simd"
  if [[ $simd == default ]]; then simd_env=(-u RNNKIT_SIMD); else simd_env=(RNNKIT_SIMD=$simd); fi
  env "${simd_env[@]}" "${sanitized_env[@]}" \
    "$venv/bin/python" -m pytest -q -p no:cacheprovider --capture=sys "${tests[@]}" "$@"
done
test_time=$((SECONDS - t1))

echo "sanitize.sh: clean. build ${build_time}s, tests ${test_time}s"
trap - ERR
rm -rf "$tmp"
