# Thin wrappers: every target calls one command that also works by hand inside .venv.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# .venv is made on first use and refreshed when pyproject.toml changes: the simulation alone
# for `make run` (SIM_STAMP), everything else for the rest (STAMP).
SIM_STAMP := $(VENV)/.sim-stamp
STAMP  := $(VENV)/.installed-stamp
SLIDES_NPM := slides/node_modules/.installed-stamp

.PHONY: setup run test check bench lint format clean assets notebooks notebooks-sync

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(SIM_STAMP): pyproject.toml | $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet -e .
	@touch $(SIM_STAMP)

$(STAMP): pyproject.toml | $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(SIM_STAMP) $(STAMP)

setup: $(STAMP)

run: $(SIM_STAMP)
	$(BIN)/python -m sim trace baseline
	$(BIN)/python -m sim run baseline --out out/baseline --figures

test: $(STAMP) lint slides-npm-if-present
	$(BIN)/python -m pytest
	DATABASE_URL=$${TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test} $(BIN)/python -m pytest tests/demo_app
	$(BIN)/python -m pytest --nbmake --nbmake-timeout=120 notebooks/

# Everyday work: lint and the fast tests (no slow, lab, browser or PostgreSQL tests).
check: $(STAMP) lint
	$(BIN)/python -m pytest -m "not slow and not lab and not browser and not postgres"

bench: $(STAMP)
	$(BIN)/python -m sim.bench
	$(BIN)/python -m demo_app.bench
	$(BIN)/python notebooks/bench.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# The kept summaries of the shipped scenarios (compared by tests/sim/test_sim_outputs.py).
.PHONY: sim-outputs
sim-outputs: $(SIM_STAMP)
	for f in sim/scenarios/*.toml; do s=$$(basename $$f .toml); $(BIN)/python -m sim run $$s > sim/scenarios/$$s.out; done

# Figures for the notebooks and slides, regenerated from code (never edited by hand).
assets: $(STAMP)
	$(BIN)/python -m assets assets/

# The talk (slides/README.md): reveal.js from npm, pinned by slides/package-lock.json,
# installed again whenever the lock changes; the deck is built from the figures of `make assets`.
.PHONY: slides slides-pdf
$(SLIDES_NPM): slides/package.json slides/package-lock.json
	npm ci --prefix slides --no-audit --no-fund
	@touch $@

# make test installs it when npm is there; without npm the deck's tests skip (and fail under CI).
.PHONY: slides-npm-if-present
slides-npm-if-present:
	@if command -v npm >/dev/null 2>&1; then $(MAKE) --no-print-directory $(SLIDES_NPM); \
	else echo "npm not found: tests/slides will skip (install Node.js and npm: apt-get install npm)"; fi

slides: $(STAMP) $(SLIDES_NPM) assets
	$(BIN)/python slides/build.py

slides-pdf: slides
	$(BIN)/python slides/pdf.py

# The course: JupyterLab on the chapters (JupyterLab-RISE presents a chapter as slides).
notebooks: $(STAMP)
	$(BIN)/jupyter lab notebooks/

# After editing a chapter's .py (or its .ipynb): format, then bring the pair back in sync.
notebooks-sync: $(STAMP)
	$(BIN)/ruff format notebooks/
	$(BIN)/jupytext --sync notebooks/[0-9][0-9]_*.py
	$(BIN)/nbstripout notebooks/*.ipynb

# The local stack lab (demo_app/stack/README.md): DNS, nginx, Gunicorn under
# supervisord on 127.0.0.1, and releases rolled over it by Ansible. Ports and sizes come from LAB_* variables (make lab-up LAB_INSTANCES=3).
.PHONY: lab-up lab-down lab-status lab-load lab-drill lab-calibrate lab-compare
.PHONY: lab-deploy lab-rollback lab-releases
DRILL ?= all
# make lab-deploy (the working tree), make lab-deploy REF=HEAD~1, make lab-deploy VERSION=<v>
REF ?=
VERSION ?=
lab-up: $(STAMP)
	$(BIN)/python -m demo_app.stack up
lab-down: $(STAMP)
	$(BIN)/python -m demo_app.stack down
lab-status: $(STAMP)
	$(BIN)/python -m demo_app.stack status
lab-load: $(STAMP)
	$(BIN)/python -m demo_app.stack load
lab-drill: $(STAMP)
	$(BIN)/python -m demo_app.stack drill $(DRILL)
lab-calibrate: $(STAMP)
	$(BIN)/python -m demo_app.stack calibrate
lab-compare: $(STAMP)
	$(BIN)/python -m demo_app.stack compare
lab-deploy: $(STAMP)
	$(BIN)/python -m demo_app.stack deploy $(if $(REF),--ref $(REF)) $(if $(VERSION),--version $(VERSION))
lab-rollback: $(STAMP)
	$(BIN)/python -m demo_app.stack rollback
lab-releases: $(STAMP)
	$(BIN)/python -m demo_app.stack releases

# The demo app on SQLite (demo_app/README.md): migrate, seed if empty, serve with Gunicorn.
.PHONY: app
app: $(STAMP)
	DJANGO_SETTINGS_MODULE=demo_app.settings.dev DEBUG=0 $(BIN)/python demo_app/manage.py prepare_demo
	DJANGO_SETTINGS_MODULE=demo_app.settings.dev DEBUG=0 $(BIN)/python -m demo_app.serve

clean:
	rm -rf out var .pytest_cache .ruff_cache .hypothesis
