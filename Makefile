# Two commands do all set-up on a fresh machine: `make run` and `make test`.
# `make demo` shows gistbot at work with no accounts (`make demo DEMO_ARGS=--keep` to stay).
PY ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: run demo test lint bench clean

$(STAMP): pyproject.toml constraints.txt
	$(PY) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -c constraints.txt -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/gistbot run

demo: $(STAMP)
	$(VENV)/bin/python -m tests.demo $(DEMO_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check bot tests bench
	$(VENV)/bin/ruff format --check bot tests bench
	$(VENV)/bin/mypy

test: lint
	$(VENV)/bin/pytest

bench: $(STAMP)
	$(VENV)/bin/python -m bench.run_all

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
