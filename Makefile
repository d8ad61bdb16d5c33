# gennaker: `make dev` runs everything on this machine, `make test` runs every test.
SHELL := /bin/bash
GO ?= go
BIN := $(CURDIR)/bin
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
STATICCHECK_VERSION := v0.7.0

.PHONY: all build dev test test-short fuzz bench lint clean

all: build

## build: the gennaker binary in bin/
build:
	@mkdir -p $(BIN)
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/gennaker ./cmd/gennaker

## dev: embedded Temporal (Web UI :8233), worker and API (:8080) in one process; data in .gennaker/
dev: build
	$(BIN)/gennaker dev

## test: every test, including the end-to-end suite and the fuzz targets' seed corpora
test:
	$(GO) test -count=1 -timeout 30m ./...

## test-short: the fast layers only (no embedded Temporal server)
test-short:
	$(GO) test -count=1 -short ./...

## fuzz: run each fuzz target for a while (FUZZTIME, default 30s)
FUZZTIME ?= 30s
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzValidate$$' -fuzztime $(FUZZTIME) ./pipeline/
	$(GO) test -run '^$$' -fuzz '^FuzzEvaluateValue$$' -fuzztime $(FUZZTIME) ./pipeline/

## bench: gennaker against the floor (raw Temporal) on the same server, printed as ratios
bench:
	$(GO) test -run '^$$' -bench . -benchtime 30x -count 1 -timeout 30m ./bench/

## lint: gofmt, go vet and staticcheck (built once into bin/)
lint: $(BIN)/staticcheck
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(BIN)/staticcheck ./...

$(BIN)/staticcheck:
	@mkdir -p $(BIN)
	GOBIN=$(BIN) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

clean:
	rm -rf $(BIN)
