# The two set-up commands of the README:
#   make run    install into .venv (once) and run the whole workflow on the embedded default benchmark
#   make test   install into .venv (once) and run the test suite
VENV ?= .venv
STAMP := $(VENV)/.realitygap-installed
CORES ?= 2
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: run test env clean

env: $(STAMP)

$(STAMP): scripts/bootstrap.sh requirements.txt pyproject.toml
	bash scripts/bootstrap.sh $(VENV)
	touch $(STAMP)

run: $(STAMP)
	snakemake --profile workflow/profiles/default --cores $(CORES)

test: $(STAMP)
	bash scripts/install_browser.sh
	python -m pytest

clean:
	rm -rf data/raw data/splits data/augmented data/probe data/pseudolabel results/models results/predictions results/scores \
	       results/explanations results/replicates results/simsearch results/experiments results/instances results/pseudolabel results/report logs .snakemake
