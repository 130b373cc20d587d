# tracebloc/edge build. `make help` lists the targets.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := build

GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/tracebloc/edge/internal/version.Version=$(VERSION)
BIN     := $(CURDIR)/bin
TOOLS   := $(CURDIR)/bin/tools
export CGO_ENABLED := 0

STATICCHECK_VERSION := v0.7.0
TEST_TIMEOUT ?= 75m
FUZZTIME ?= 30s

.PHONY: help build test test-unit lint bench demo demo-down image clean tools

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

build: ## the three static binaries in bin/
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/tracebloc-bootstrap ./bootstrap
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/tracebloc-postrender ./postrender
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/tracebloc-devbackend ./internal/devbackend/cmd/tracebloc-devbackend

test: build ## everything CI runs, real-cluster tests included; ends with "N passed, N failed"
	$(GO) test -json -count=1 -timeout $(TEST_TIMEOUT) ./... | $(GO) run ./internal/tools/testsummary

test-unit: ## the fast tests only (no cluster, no browser)
	$(GO) test -short -count=1 ./...

lint: $(TOOLS)/staticcheck ## gofmt, go vet, staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(TOOLS)/staticcheck ./...

$(TOOLS)/staticcheck:
	GOBIN=$(TOOLS) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

bench: ## benchmarks
	$(GO) test -run '^$$' -bench . -benchmem ./...

clean: ## remove build output
	rm -rf $(BIN)
