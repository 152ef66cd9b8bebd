# Two commands, each sets itself up: `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test build check bench validate clean site lab

$(STAMP): requirements.txt pyproject.toml
	@# bubblewrap gives the grading sandbox no network and no view of the repository (Linux, as root).
	@command -v bwrap >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  (apt-get update -qq && apt-get install -y -qq bubblewrap) >/dev/null 2>&1; } || \
	  echo "note: bubblewrap is not installed: the grader falls back to process isolation + rlimits"
	@# Chromium renders the HTML reports in a test (skipped, and said so, where it cannot be installed).
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null 2>&1; } || \
	  echo "note: chromium is not installed: the browser test of the HTML reports is skipped"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	@touch $(STAMP)

# Bytecode of the course's own packages (pip compiles only what it installs into the venv): every
# `course grade` would otherwise compile them again where PYTHONDONTWRITEBYTECODE is set.
PYC = $(BIN)/python -m compileall -q labgrader reference_impl labkit labdatasets bench >/dev/null

demo: $(STAMP)
	$(PYC)
	$(BIN)/course demo

test: $(STAMP)
	$(PYC)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n 2 --dist loadfile -q

build: $(STAMP)
	$(BIN)/course build

check: $(STAMP)
	$(BIN)/course build --check

bench: $(STAMP)
	$(PYC)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) build .pytest_cache

validate: $(STAMP)   ## mutation score and alternatives of every lab in course.toml
	$(PYC)
	$(BIN)/python -c "from labgrader.config import load_course; print(*(l.id for l in load_course().labs))" \
	  | xargs -n1 $(BIN)/course validate --jobs 2

site: $(STAMP)   ## every solution notebook executed (full size) and rendered to build/site/ (index.html); checks quoted numbers
	$(BIN)/python -m labgrader.site

# JupyterLab on labs/ with the course's kernel registered in the venv ("Efficient ML Labs").
# `make lab LAB_PORT=8890`; LAB_ARGS passes more options (e.g. --no-browser). Ctrl-C stops it.
LAB_IP   ?= 127.0.0.1
LAB_PORT ?= 8888
LAB_ARGS ?=
lab: $(STAMP)
	$(BIN)/python -m ipykernel install --sys-prefix --name efficient-ml-labs --display-name "Efficient ML Labs"
	$(BIN)/jupyter lab --notebook-dir=labs --ip=$(LAB_IP) --port=$(LAB_PORT) \
	  $(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_ARGS)
