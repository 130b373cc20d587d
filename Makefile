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
ACTIONLINT_VERSION  := v1.7.12
HELM_DOCS_VERSION   := v1.14.2
TEST_TIMEOUT ?= 75m
FUZZTIME ?= 30s

CACHE   := $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/tracebloc-edge
IMAGE_TAR := $(BIN)/edge-bootstrap.oci.tar

.PHONY: release help build test test-unit lint bench bench-fleet fuzz demo demo-down image tools deps-test deps-demo cluster-up cluster-down clean chart-docs

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

build: ## the three static binaries in bin/
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/tracebloc-bootstrap ./bootstrap
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/tracebloc-postrender ./postrender/cmd/tracebloc-postrender
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/tracebloc-devbackend ./internal/devbackend/cmd/tracebloc-devbackend

test: deps-test build tools ## everything CI runs, real-cluster tests included; ends with "N passed, N failed"
	@status=0; \
	$(GO) test -json -count=1 -timeout $(TEST_TIMEOUT) ./... | $(GO) run ./internal/tools/testsummary || status=$$?; \
	for name in test test-b e2e e2e-b faults; do scripts/cluster down --name $$name >/dev/null 2>&1 || true; done; \
	exit $$status

test-unit: ## the fast tests only (no cluster, no browser)
	$(GO) test -short -count=1 ./...

lint: $(TOOLS)/staticcheck $(TOOLS)/actionlint $(TOOLS)/helm-docs ## gofmt, go vet, staticcheck, actionlint (the workflows), chart/README.md up to date
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(TOOLS)/staticcheck ./...
	$(TOOLS)/actionlint
	@$(call chart_docs,$$tmp/README.md); \
	  if ! diff -u chart/README.md "$$tmp/README.md"; then \
	    echo "chart/README.md is stale: it is generated from chart/README.md.gotmpl and the comments of chart/values.yaml; run make chart-docs and commit it"; exit 1; fi; \
	  undocumented=$$({ grep -E '\|  \|$$' "$$tmp/README.md" || true; } | cut -d' ' -f2); \
	  if [ -n "$$undocumented" ]; then \
	    echo "chart/values.yaml: no description for" $$undocumented": add a '# -- ' comment above each, then run make chart-docs"; exit 1; fi

chart-docs: $(TOOLS)/helm-docs ## regenerate chart/README.md from chart/README.md.gotmpl and the comments of chart/values.yaml
	@$(call chart_docs,chart/README.md)

# chart_docs renders chart/README.md.gotmpl with helm-docs into $(1), from a copy of
# Chart.yaml, values.yaml and the template only (in $$tmp, removed on exit): helm-docs
# then never sees charts/ or testdata/, and needs no network.
define chart_docs
tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
  cp chart/Chart.yaml chart/values.yaml chart/README.md.gotmpl "$$tmp/"; \
  $(TOOLS)/helm-docs --chart-search-root "$$tmp" --sort-values-order file --log-level warning; \
  if [ ! -f "$$tmp/README.md" ]; then echo "helm-docs wrote no README (its warning above says why: chart/values.yaml or chart/README.md.gotmpl)"; exit 1; fi; \
  if [ "$$tmp/README.md" != "$(1)" ]; then cp "$$tmp/README.md" "$(1)"; fi
endef

$(TOOLS)/staticcheck:
	GOBIN=$(TOOLS) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

# actionlint runs shellcheck on the workflows' run: scripts when shellcheck is on PATH
# (CI installs it), and skips that check otherwise.
$(TOOLS)/actionlint:
	GOBIN=$(TOOLS) $(GO) install github.com/rhysd/actionlint/cmd/actionlint@$(ACTIONLINT_VERSION)

$(TOOLS)/helm-docs:
	GOBIN=$(TOOLS) $(GO) install github.com/norwoodj/helm-docs/cmd/helm-docs@$(HELM_DOCS_VERSION)

tools: ## build the Kubernetes binaries, helm, helm4, kustomize and cosign into the cache (once)
	scripts/build-tools >/dev/null

deps-test: ## the Debian packages the tests need (apt-get, only when one is missing)
	scripts/deps test

deps-demo: ## the Debian packages the demo needs
	scripts/deps demo

image: build ## the bootstrap's OCI image tarball, built without Docker
	$(GO) run ./images/build --binary $(BIN)/tracebloc-bootstrap --name ghcr.io/tracebloc/edge-bootstrap \
	  --version $(VERSION) --out $(IMAGE_TAR)

release: ## the release into dist/: bootstrap image, chart, Helm 4 plugin, archives, SHA256SUMS, signed; pushed to RELEASE_REGISTRY (default: the local cluster's registry, throwaway keys)
	VERSION=$(VERSION) scripts/release

demo: deps-demo build ## the whole journey with the tracebloc/client chart on a local cluster (or KUBECONFIG's), until the client is online; DEMO_AUTO_APPROVE=1 approves itself, TRACEBLOC_OFFLINE=1 stays offline
	scripts/demo up

demo-down: ## remove what the demo started: the release, the development backend, the local cluster
	scripts/demo down

bench-fleet: ## the fleet: 500 enrollments at once, the re-run, 50 racing on one cluster id
	scripts/bench-fleet

cluster-up: ## start the local cluster "dev" and print its kubeconfig
	scripts/cluster up --name dev

cluster-down: ## remove the local cluster "dev"
	scripts/cluster down --name dev

fuzz: ## run every fuzz target for FUZZTIME (default 30s)
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

bench: build tools ## every figure of BENCHMARKS.md (Go benchmarks, post-renderer, enrollment, sizes, cluster, e2e), ending with a table
	scripts/bench

clean: ## remove build output
	rm -rf $(BIN)
