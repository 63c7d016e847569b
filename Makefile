# genlab: `make run` starts the app on 127.0.0.1:7860, `make test` runs the tests.
# The virtualenv lives outside the clone, keyed by a hash of the requirement files, so every clone,
# CI run and later session with the same requirements reuses it (torch from PyPI is ~5 GB).
PYTHON ?= python3
REQ_HASH := $(shell cat requirements.txt requirements-dev.txt | sha256sum | cut -c1-12)
VENV_ROOT ?= $(HOME)/.cache/genlab
VENV ?= $(VENV_ROOT)/venv-$(REQ_HASH)
PY := $(VENV)/bin/python
CHROMIUM ?= /usr/bin/chromium
PYTEST_ARGS ?=

.PHONY: venv run lint test test-all test-fast bench bench-smoke soak browser clean-cache checkpoints decoders

venv: $(VENV)/.installed

# No prerequisites on purpose: the hash in the path already changes with the requirements, and a
# fresh clone's newer file times must not trigger a reinstall.
$(VENV)/.installed:
	mkdir -p $(VENV_ROOT)
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -r requirements.txt -r requirements-dev.txt
	touch $@

run: venv
	$(PY) app.py $(ARGS)

# Debian's chromium for the browser tests (playwright never downloads its own browser here).
browser:
	@test -x $(CHROMIUM) || { command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] && \
	  (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium) >/dev/null; } || \
	  echo "note: $(CHROMIUM) missing; browser tests will be skipped"

lint: venv
	$(PY) -m ruff check .

test: venv browser lint
	GRADIO_ANALYTICS_ENABLED=False $(PY) -m pytest $(PYTEST_ARGS)

test-fast: venv
	GRADIO_ANALYTICS_ENABLED=False $(PY) -m pytest -m "not browser" $(PYTEST_ARGS)

test-all: venv browser
	GRADIO_ANALYTICS_ENABLED=False $(PY) -m pytest -m "" $(PYTEST_ARGS)

bench: venv browser
	GRADIO_ANALYTICS_ENABLED=False $(PY) -m bench.run

bench-smoke: venv browser
	GRADIO_ANALYTICS_ENABLED=False $(PY) -m bench.run --smoke

soak: venv
	GRADIO_ANALYTICS_ENABLED=False $(PY) -m bench.soak --users 30 --seconds 300

# Rebuild every shipped checkpoint from scratch (see each model card for its single command).
checkpoints: venv
	$(PY) -m genlab train classifier --out checkpoints/mnist-classifier --title "MNIST digit classifier (small CNN)" --epochs 12 --batch-size 128
	$(PY) -m genlab train dcgan --out checkpoints/mnist-dcgan --title "DCGAN on MNIST (28 px, z=100)" --epochs 200 --batch-size 64 --ema 0.999 --augment translation --lr-decay-from 150 --snapshots 1,2,5,10,20,40 --threads 2
	$(PY) -m genlab train vae --out checkpoints/mnist-vae --title "Conv VAE on MNIST (z=16)" --z-dim 16 --epochs 60 --batch-size 128 --snapshots ''
	$(PY) -m genlab train vae --out checkpoints/mnist-vae-2d --title "Conv VAE on MNIST (z=2, for maps)" --z-dim 2 --epochs 60 --batch-size 128 --snapshots 1,3,10
	$(PY) -m genlab train ae --out checkpoints/mnist-ae-2d --title "Conv autoencoder on MNIST (z=2, no KL: the holes)" --z-dim 2 --epochs 20 --batch-size 128 --snapshots 1,3,10 --threads 1
	$(PY) -m genlab train vae --out checkpoints/mnist-beta-vae-2d --title "Conv beta-VAE on MNIST (z=2, beta=4)" --z-dim 2 --beta 4 --epochs 14 --batch-size 128 --snapshots 1,3,10 --threads 1
	$(PY) -m genlab train vae --out checkpoints/mnist-beta-vae --title "Conv beta-VAE on MNIST (z=10, beta=4, for traversals)" --z-dim 10 --beta 4 --kl-warmup 5 --epochs 8 --batch-size 128 --snapshots 1,3 --threads 1
	$(PY) -m genlab train mlp-gan --out checkpoints/mnist-gan-mlp --title "Vanilla GAN on MNIST (fully connected, z=100)" --epochs 19 --batch-size 64 --ema 0.999 --lr-decay-from 16 --snapshots 1,5 --threads 1
	$(MAKE) decoders

# The browser decoders (decoder.onnx, listed in each manifest) of the shipped generative checkpoints.
decoders: venv
	$(PY) -m genlab export-decoder checkpoints/mnist-dcgan checkpoints/mnist-vae checkpoints/mnist-vae-2d \
		checkpoints/mnist-ae-2d checkpoints/mnist-beta-vae-2d checkpoints/mnist-beta-vae checkpoints/mnist-gan-mlp

clean-cache:
	rm -rf $(VENV_ROOT)
