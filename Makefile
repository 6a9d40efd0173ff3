# Developer shortcuts. `make dev` once, then `make tests` after each change
# (the editable install rebuilds the C++ that changed).
PYTHON ?= python

.PHONY: dev tests bench lint

dev:
	$(PYTHON) -m pip install scikit-build-core pybind11 cmake ninja
	$(PYTHON) -m pip install --no-build-isolation -e ".[test,bench]"

tests: dev
	$(PYTHON) -m pytest

bench: dev
	$(PYTHON) benchmarks/compare.py --threads 1
	$(PYTHON) -m pytest benchmarks --benchmark-only

lint:
	ruff check . && ruff format --check .
	clang-format --dry-run --Werror cpp/include/rnnkit/*.hpp cpp/src/*.cpp cpp/src/*.hpp cpp/bindings/*.hpp cpp/bindings/*.cpp
