# Weft: one command runs the product (make run), one passes the tests (make test).
SHELL := /bin/bash
export PATH := $(PATH):/usr/local/go/bin
export CGO_ENABLED := 0
GO ?= go
PY ?= python3

.PHONY: seaweedfs build run test test-go test-race test-python lint generate verify fuzz bench clean

build: ## build bin/weft
	$(GO) build -o bin/weft ./cmd/weft

run: build ## start weft on embedded SQLite with the examples and their workers
	bash scripts/run.sh

test: test-go test-python ## every Go and Python test

# The race detector slows the in-process benchmark's smoke test tenfold, so
# that one package runs without it; everything else runs under -race.
test-go:
	$(GO) vet ./...
	CGO_ENABLED=1 $(GO) test -race -count=1 -timeout 20m $$($(GO) list ./... | grep -v /internal/bench)
	$(GO) test -count=1 -timeout 10m ./internal/bench

test-race:
	CGO_ENABLED=1 $(GO) test -race -count=1 ./engine/... ./internal/...

seaweedfs: ## build SeaweedFS for the S3 artifact tests (~/.cache/weft/weed; once)
	bash scripts/seaweedfs.sh

test-python: build
	WEFT_BIN=$(CURDIR)/bin/weft $(PY) -m unittest discover -s sdk-python/tests -t sdk-python

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...

generate:
	$(GO) tool templ generate

verify: generate lint
	git diff --exit-code
	@diff <(ls migrations/sqlite) <(ls migrations/postgres) || { echo "migrations differ between dialects"; exit 1; }

fuzz:
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime 60s ./flows

bench: build
	./bin/weft bench

clean:
	rm -rf bin test-artifacts
