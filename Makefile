# Quick start: `make train` and `make test` both create .venv with the pinned stack if it is missing.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed-stamp

.PHONY: train test bench install clean
install: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required, found " + sys.version' 
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --upgrade pip
	$(VENV)/bin/pip install -e '.[test]'
	touch $(STAMP)

train: $(STAMP)
	$(VENV)/bin/dgl-diffpool train

test: $(STAMP)
	$(VENV)/bin/python -m pytest

# Speed and memory against PyG's dense DiffPool (several minutes; D&D alone takes about half an hour).
bench: $(STAMP)
	$(VENV)/bin/pip install -e '.[bench]'
	$(VENV)/bin/python benchmarks/train_speed.py --datasets ENZYMES,PROTEINS,DD
	$(VENV)/bin/python benchmarks/pool_scaling.py

clean:
	rm -rf $(VENV) *.egg-info
