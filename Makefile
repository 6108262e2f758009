# Two commands on a fresh machine (Python 3.11+ only): `make demo` and `make test`.
# One virtual environment, filled step by step: `make demo` installs the project and its
# runtime dependencies only; `make test` adds the test tools (the `test` extra). Each step has
# its own stamp, redone when pyproject.toml changes. The install is editable in setuptools'
# compat mode: a plain path entry (.pth) that type checkers outside the repository follow too,
# and that picks up new modules without a reinstall (strict mode would not).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
EDITABLE := --config-settings editable_mode=compat
VENV_STAMP := $(VENV)/.created
DEMO_STAMP := $(VENV)/.installed-runtime
TEST_STAMP := $(VENV)/.installed-test

.PHONY: demo test lint bench clean

$(VENV_STAMP):
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	touch $@

$(DEMO_STAMP): pyproject.toml $(VENV_STAMP)
	$(BIN)/python -m pip install --quiet -e . $(EDITABLE)
	touch $@

$(TEST_STAMP): pyproject.toml $(VENV_STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test]' $(EDITABLE)
	touch $@ $(DEMO_STAMP)

demo: $(DEMO_STAMP)
	$(BIN)/evenergy-async demo

test: $(TEST_STAMP)
	.ci/ensure-postgres
	$(BIN)/ruff check evenergy_async tests benchmarks
	$(BIN)/mypy
	$(BIN)/python -m pytest -q

bench: $(TEST_STAMP)
	$(BIN)/python -m pip install --quiet -e '.[bench]' $(EDITABLE)
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) build *.egg-info
