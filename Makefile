# Two commands do all the set-up: `make demo` and `make test` (see README).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The housing data is never committed; point hone at the shared copy when it is there.
SHARED_DATA := $(abspath ../shared/data)
ifneq ($(wildcard $(SHARED_DATA)/housing/housing.csv),)
HONE_DATA_DIR ?= $(SHARED_DATA)
endif
export HONE_DATA_DIR

# The report test opens the HTML report in Debian's Chromium (installed here when missing).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install demo demo-classification test lint bench clean browser postgres

# Set-up only: the virtual environment with hone installed (what `make demo` starts with).
install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

demo: $(VENV)/.installed
	$(BIN)/hone tune examples/housing/hone.yaml
	$(BIN)/hone evaluate --config examples/housing/hone.yaml --final
	$(BIN)/hone report --config examples/housing/hone.yaml --output examples/housing/hone-report.html
	$(BIN)/hone register --config examples/housing/hone.yaml
	$(BIN)/python examples/housing/simulate_day.py examples/housing/hone.yaml
	$(BIN)/hone monitor --config examples/housing/hone.yaml --report examples/housing/hone-monitor.html

# Your own data, as a user would bring it: a CSV with an ID column and gaps, a binary classifier, served
# with new IDs, replayed with a fault injected in one column, monitored.
BC := examples/breast_cancer
demo-classification: $(VENV)/.installed
	$(BIN)/python $(BC)/make_data.py
	$(BIN)/hone tune -c $(BC)/hone.yaml
	$(BIN)/hone evaluate -c $(BC)/hone.yaml --final
	$(BIN)/hone register -c $(BC)/hone.yaml
	$(BIN)/hone predict -c $(BC)/hone.yaml -i $(BC)/breast_cancer.csv -o $(BC)/predictions.csv
	$(BIN)/python examples/replay.py --config $(BC)/hone.yaml --data $(BC)/breast_cancer.csv \
	  --target diagnosis --fault mean_radius --fault-from 0.6
	$(BIN)/hone monitor -c $(BC)/hone.yaml --report $(BC)/hone-monitor.html

browser:
	@command -v chromium >/dev/null 2>&1 || $(SUDO) apt-get install -y -q chromium >/dev/null \
	  || { $(SUDO) apt-get update -q >/dev/null && $(SUDO) apt-get install -y -q chromium >/dev/null; } \
	  || echo "could not install chromium: the browser test of the report will fail"

# The store tests also run on PostgreSQL: Debian's server (installed here when missing), started by
# tests/servers/postgres.sh on a free port in a temporary directory and stopped when pytest ends.
postgres:
	@ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || $(SUDO) apt-get install -y -q postgresql >/dev/null \
	  || { $(SUDO) apt-get update -q >/dev/null && $(SUDO) apt-get install -y -q postgresql >/dev/null; } \
	  || echo "could not install postgresql: the PostgreSQL store tests will skip (fail with CI=true)"

test: $(VENV)/.installed-test browser postgres
	$(BIN)/ruff check .
	tests/servers/postgres.sh run $(BIN)/python -m pytest -q

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) examples/housing/.hone .pytest_cache examples/housing/hone-*.html
	rm -rf $(BC)/.hone $(BC)/breast_cancer.csv $(BC)/predictions.csv $(BC)/hone-*.html
