# npuhub: `make run` starts the platform at http://127.0.0.1:8000; `make test` runs the
# whole test suite. Both install what is missing first (Debian 12, as root).
.PHONY: run cluster test unit lint deps test-deps images bench clean-test

PY := .venv/bin/python

deps:
	scripts/install-deps

test-deps:
	scripts/install-deps --test

images: deps
	scripts/start-dockerd
	images/build base

run: images
	.venv/bin/npuhub up

# cluster mode: a three-node Slurm cluster on this machine, npuhub on it at :8000
cluster:
	scripts/cluster

test: test-deps
	scripts/start-dockerd
	images/build base
	.venv/bin/ruff check .
	$(PY) -m pytest -p no:cacheprovider --durations=30 tests

unit: deps
	$(PY) -m pytest -p no:cacheprovider tests/unit

lint: deps
	.venv/bin/ruff check .

bench: images
	$(PY) benchmarks/spawn.py
	$(PY) benchmarks/placement.py
	$(PY) benchmarks/allocator.py

clean-test:
	-docker ps -aq --filter name=npuhubtest | xargs -r docker rm -f
	-docker volume ls -q --filter name=npuhubtest | xargs -r docker volume rm
