# `make run`: the chat demo (http://127.0.0.1:9000/).  `make test`: every test (lint, 4 CPythons,
# pure-Python path, Autobahn).  Both set up what they need on first use.
PYTHON ?= $(shell scripts/find-pythons.sh --main)
HOST ?= 127.0.0.1
PORT ?= 9000

.PHONY: run test venv lint unit conformance bench clean

venv:
	@scripts/venv.sh "$(PYTHON)" .venv dev

run: venv
	.venv/bin/python -m ws4py chat --host $(HOST) --port $(PORT)

test:
	scripts/test.sh

lint: venv
	.venv/bin/ruff check src tests bench conformance fuzz
	.venv/bin/mypy

unit: venv
	.venv/bin/python -m pytest -q

conformance: venv
	conformance/run.sh "$(CURDIR)/.venv/bin/python"

bench: venv
	.venv/bin/python bench/bench_core.py

clean:
	rm -rf .venv .venv-* build out src/*.egg-info src/ws4py/*.so
