# The two commands a user runs are `make bench` and `make test`; each creates .venv when missing.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The cache libraries measured beside our strategies (the `peers` extra): tests, perf and
# bench-peers need them; bench does not.
PEERS_STAMP := $(VENV)/.peers-installed

.PHONY: bench bench-quick bench-peers bench-faults soak report sweep sim-speed test verify serve perf lint clean

# One install per stamp: on a fresh clone `make test` installs the test and peers extras at once, and
# that covers what $(STAMP) stands for. pip installs only uv, which installs the project: measured on
# 2 cores, pip alone took ~65 s for these extras and uv ~15 s, most of a minute of every fresh
# `make test`. uv compiles the bytecode as pip does: where PYTHONDONTWRITEBYTECODE is set, a venv
# without .pyc files makes every Locust and uvicorn process compile its imports (1.3 s more each).
EXTRAS = test
$(PEERS_STAMP): EXTRAS = test,peers
$(STAMP) $(PEERS_STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (set PYTHON=/path/to/python3.11)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/python -m uv pip install --quiet --compile-bytecode --python $(BIN)/python -e '.[$(EXTRAS)]'
	touch $@ $(STAMP)

# A run that made a results folder (exit 0, 1 or 130) gets its report; 2 means bad input, no folder.
bench: $(STAMP)
	$(BIN)/cachebench run; status=$$?; \
	  if [ $$status -ne 2 ]; then $(BIN)/cachebench report || exit $$?; fi; exit $$status

bench-quick: $(STAMP)
	$(BIN)/cachebench run --quick; status=$$?; \
	  if [ $$status -ne 2 ]; then $(BIN)/cachebench report || exit $$?; fi; exit $$status

# Our strategies and the cache libraries side by side on read_heavy and per_user (bench/peers.toml).
bench-peers: $(PEERS_STAMP)
	$(BIN)/cachebench run --bench bench/peers.toml; status=$$?; \
	  if [ $$status -ne 2 ]; then $(BIN)/cachebench report || exit $$?; fi; exit $$status

# Redis paused, slowed, killed, restarted and flapping under redis, hierarchical and nocache.
bench-faults: $(STAMP)
	$(BIN)/cachebench run --bench bench/faults.toml; status=$$?; \
	  if [ $$status -ne 2 ]; then $(BIN)/cachebench report || exit $$?; fi; exit $$status

# Ten minutes per strategy by default; SOAK_S=60 for a short one.
SOAK_S ?= 600
soak: $(STAMP)
	$(BIN)/cachebench run --bench bench/soak.toml --duration $(SOAK_S); status=$$?; \
	  if [ $$status -ne 2 ]; then $(BIN)/cachebench report || exit $$?; fi; exit $$status

RUN ?=
report: $(STAMP)
	$(BIN)/cachebench report $(RUN)

sweep: $(STAMP)
	$(BIN)/cachebench sweep

sim-speed: $(STAMP)
	$(BIN)/python -m cachebench.perf.simulator_speed

# Three at a time (pytest-xdist), then alone the tests that judge time, rates or CPU shares
# (tests/conftest.py, SERIAL_MODULES). Three on 2 cores because most tests wait on the servers
# and Locust runs they start: measured, 215 s for the first pass against 239 s two at a time.
# Exit status 5 (no tests collected) is not a failure.
test: $(PEERS_STAMP)
	$(BIN)/python -m pytest -q -n 3 --dist loadfile -m "not serial"; first=$$?; \
	  $(BIN)/python -m pytest -q -m serial; second=$$?; \
	  for status in $$first $$second; do \
	    if [ $$status -ne 0 ] && [ $$status -ne 5 ]; then exit $$status; fi; done; \
	  if [ $$first -eq 5 ] && [ $$second -eq 5 ]; then echo "no tests collected"; fi; exit 0

verify: $(STAMP)
	$(BIN)/cachebench verify

STRATEGY ?= hierarchical
serve: $(STAMP)
	$(BIN)/cachebench serve $(STRATEGY)

perf: $(PEERS_STAMP)
	$(BIN)/python -m cachebench.perf

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) *.egg-info
