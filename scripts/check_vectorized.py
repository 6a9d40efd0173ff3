"""Check that GCC vectorised every loop of the kernels marked ``#pragma GCC ivdep``.

Those loops are the cells' row loops and the fused step's epilogue: left scalar, they ran a
live forecast's step 3x slower, unnoticed for several releases (GCC 12 drops ``__restrict``
once a row function is inlined). CMake runs this after building the kernels of a Release
build with GCC, which writes what it vectorised to one report per SIMD path
(``-fopt-info-vec-optimized``)::

    python scripts/check_vectorized.py [--strict] SOURCE_DIR REPORT...

Every loop on the line after such a pragma, in SOURCE_DIR's headers, must appear vectorised
in every report, at least once (one instantiation is enough). A missing one is a warning,
or with ``--strict`` (RNNKIT_WERROR, as in CI) an error.

GCC appends to a report: read again after a rebuild, the lines of an earlier compile would
pass a loop that the last one left scalar (a local build passed what CI's fresh one
failed). So a check that passes removes the reports it read, and the next compile of a path
starts a new one; a report that is absent is a path not compiled since, skipped. A failing
check keeps them, so that building again fails again until the loop is fixed.
"""

import pathlib
import re
import sys

PRAGMA = "#pragma GCC ivdep"


def marked_loops(source_dir):
    """(file name, line) of every loop after an ivdep pragma in the headers."""
    loops = []
    for path in sorted(pathlib.Path(source_dir).glob("*.hpp")):
        lines = path.read_text().splitlines()
        loops += [(path.name, n + 1) for n, line in enumerate(lines, 1) if line.strip() == PRAGMA]
    return loops


def vectorised(report):
    """(file name, line) of every loop the report says GCC vectorised."""
    pattern = re.compile(r"([^/:\s]+):(\d+):\d+: optimized: loop vectorized")
    text = pathlib.Path(report).read_text()
    return {(m.group(1), int(m.group(2))) for m in pattern.finditer(text)}


def main(argv):
    strict = argv[:1] == ["--strict"]
    source_dir, *reports = argv[1:] if strict else argv
    loops = marked_loops(source_dir)
    if not loops:
        print(f"check_vectorized: no '{PRAGMA}' in {source_dir}/*.hpp", file=sys.stderr)
        return 1
    compiled = [pathlib.Path(report) for report in reports if pathlib.Path(report).exists()]
    missed = [
        f"{name}:{line} in {report.name}"
        for report in compiled
        for name, line in sorted(set(loops) - vectorised(report))
    ]
    for miss in missed:
        print(f"rnnkit: GCC left a loop marked ivdep scalar: {miss}", file=sys.stderr)
    if strict and missed:
        return 1
    for report in compiled:
        report.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
