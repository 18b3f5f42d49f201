# Weft: one command runs the product (make run), one passes the tests (make test).
SHELL := /bin/bash
export PATH := $(PATH):/usr/local/go/bin
export CGO_ENABLED := 0
GO ?= go
PY ?= python3

.PHONY: seaweedfs build run test test-go test-race test-python lint lint-openapi tools generate verify fuzz bench clean

build: ## build bin/weft
	$(GO) build -o bin/weft ./cmd/weft

run: build ## start weft on embedded SQLite with the examples and their workers
	bash scripts/run.sh

test: test-go test-python lint-openapi ## every Go and Python test, and the OpenAPI lint

# The race detector slows weft bench's smoke tests (cmd/weft
# TestBenchSmall*) tenfold, so they run without it; everything else runs
# under -race.
test-go:
	$(GO) vet ./...
	CGO_ENABLED=1 $(GO) test -race -count=1 -timeout 20m -skip '^TestBenchSmall' ./...
	$(GO) test -count=1 -timeout 10m -run '^TestBenchSmall' ./cmd/weft

# The OpenAPI linter (Redocly's CLI, pinned in tools/openapi-lint/package.json)
# lives in tools/openapi-lint/node_modules, which git ignores: make tools
# installs it there with npm. Without it the lint is skipped loudly, and
# fails under CI=true.
OPENAPI_LINT := tools/openapi-lint/node_modules/.bin/redocly
tools: ## install the OpenAPI linter (npm) into tools/openapi-lint/node_modules
	npm install --prefix tools/openapi-lint --no-audit --no-fund --loglevel=error

lint-openapi: ## lint server/openapi.json (the document GET /api/v1/openapi.json serves)
	@if [ -x $(OPENAPI_LINT) ]; then \
		REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true \
			$(OPENAPI_LINT) lint --config tools/openapi-lint/redocly.yaml --format=stylish server/openapi.json; \
	elif [ "$$CI" = true ]; then \
		echo "lint-openapi: $(OPENAPI_LINT) is missing; run make tools (needs npm)" >&2; exit 1; \
	else \
		echo "*** SKIPPING lint-openapi: $(OPENAPI_LINT) is missing; run make tools (needs npm) ***" >&2; \
	fi

test-race:
	CGO_ENABLED=1 $(GO) test -race -count=1 ./engine/... ./internal/...

seaweedfs: ## build SeaweedFS for the S3 artifact tests (~/.cache/weft/weed; once)
	bash scripts/seaweedfs.sh

test-python: build
	WEFT_BIN=$(CURDIR)/bin/weft $(PY) -m unittest discover -s sdk-python/tests -t sdk-python

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

generate:
	$(GO) tool templ generate

verify: generate lint
	$(GO) mod tidy -diff
	git diff --exit-code
	$(GO) test -count=1 -run 'TestDialects' ./migrations

# Each fuzz target for FUZZTIME (make fuzz FUZZTIME=4m for a longer run);
# their seeds also run as plain tests under make test.
FUZZTIME ?= 60s
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./flows
	$(GO) test -run '^$$' -fuzz '^FuzzParseBlock$$' -fuzztime $(FUZZTIME) ./blocks
	$(GO) test -run '^$$' -fuzz '^FuzzUserSchema$$' -fuzztime $(FUZZTIME) ./blocks
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeRequest$$' -fuzztime $(FUZZTIME) ./server

bench: build
	./bin/weft bench

clean:
	rm -rf bin test-artifacts
