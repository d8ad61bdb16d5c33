# gennaker: `make dev` runs everything on this machine, `make test` runs every test.
SHELL := /bin/bash
GO ?= go
BIN := $(CURDIR)/bin
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
STATICCHECK_VERSION := v0.7.0

.PHONY: all build dev test test-short fuzz bench lint clean kube-tools

all: build

## build: the gennaker binary in bin/
build:
	@mkdir -p $(BIN)
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/gennaker ./cmd/gennaker

## dev: embedded Temporal (Web UI :8233), worker and API (:8080) in one process; data in .gennaker/
dev: build kube-tools
	$(BIN)/gennaker dev

## test: every test, including the end-to-end suite and the fuzz targets' seed corpora
test: kube-tools
	$(GO) test -count=1 -timeout 30m ./...

## test-short: the fast layers only, in under a minute once the build cache is warm: unit tests,
## workflow tests on Temporal's in-memory test suite, replays of recorded histories, httptest servers;
## no embedded Temporal server, Kubernetes control plane, moto, Prometheus, registry or PostgreSQL
# e2e and bench are left out: under -short they run nothing, yet linking their test binaries, the
# largest of all, was a third of the work (`make lint` still type-checks them).
test-short:
	$(GO) test -count=1 -short $$($(GO) list ./... | grep -v -e '/e2e$$' -e '/bench$$')

## fuzz: run each fuzz target for a while (FUZZTIME, default 30s)
FUZZTIME ?= 30s
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzValidate$$' -fuzztime $(FUZZTIME) ./pipeline/
	$(GO) test -run '^$$' -fuzz '^FuzzEvaluateValue$$' -fuzztime $(FUZZTIME) ./pipeline/

## bench: gennaker against the floor (raw Temporal) on the same server, printed as ratios
bench: kube-tools
	$(GO) test -run '^$$' -bench . -benchtime 30x -count 1 -timeout 30m ./bench/
	$(GO) test -run '^$$' -bench BenchmarkJudge -benchtime 20x -count 1 ./canary/

## lint: gofmt, go vet and staticcheck (built once into bin/)
lint: $(BIN)/staticcheck
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(BIN)/staticcheck ./...

$(BIN)/staticcheck:
	@mkdir -p $(BIN)
	GOBIN=$(BIN) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

## kube-tools: etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl and kwok in bin/, plus kwok's
## CRDs (Stage, Logs, ClusterLogs) and stages in bin/kwok-stages/ (for internal/localkube); rebuilt only
## when tools/kube's go.mod or go.sum or the kwok version change, or when something is missing
KWOK_VERSION := v0.8.0
KUBE_VERSION := $(shell sed -n 's/^[[:space:]]*k8s.io\/kubernetes v//p' tools/kube/go.mod)
KUBE_BINS := $(addprefix $(BIN)/,etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok)
KWOK_STAGES := $(BIN)/kwok-stages
KWOK_STAGE_FILES := crd/bases/kwok.x-k8s.io_stages.yaml crd/bases/kwok.x-k8s.io_logs.yaml \
	crd/bases/kwok.x-k8s.io_clusterlogs.yaml stage/node/fast/node-initialize.yaml \
	stage/node/heartbeat/node-heartbeat.yaml stage/pod/fast/pod-ready.yaml stage/pod/fast/pod-complete.yaml \
	stage/pod/fast/pod-delete.yaml
KUBE_TOOLS_KEY := $(shell { cat tools/kube/go.mod tools/kube/go.sum; echo $(KWOK_VERSION); } | (sha256sum 2>/dev/null || shasum -a 256) | cut -c1-16)
KUBE_TOOLS_STAMP := $(BIN)/.kube-tools-$(KUBE_TOOLS_KEY)
# The version the servers report; without it they say v0.0.0 and clients misjudge the cluster's version.
KUBE_LDFLAGS := -s -w $(foreach p,k8s.io/component-base/version k8s.io/client-go/pkg/version,\
	-X $(p).gitVersion=v$(KUBE_VERSION) -X $(p).gitMajor=$(word 1,$(subst ., ,$(KUBE_VERSION))) \
	-X $(p).gitMinor=$(word 2,$(subst ., ,$(KUBE_VERSION))) -X $(p).gitTreeState=clean)

kube-tools: $(KUBE_TOOLS_STAMP)

# A missing tool or stage file forces the build even when the stamp is current.
ifneq ($(filter-out $(wildcard $(KUBE_BINS) $(KWOK_STAGES)/*),$(KUBE_BINS) $(addprefix $(KWOK_STAGES)/,$(notdir $(KWOK_STAGE_FILES)))),)
.PHONY: $(KUBE_TOOLS_STAMP)
endif

$(KUBE_TOOLS_STAMP):
	@mkdir -p $(BIN)
	cd tools/kube && $(GO) build -ldflags "$(KUBE_LDFLAGS)" -o $(BIN)/ \
		k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler \
		k8s.io/kubernetes/cmd/kubectl
	cd tools/kube && $(GO) build -ldflags "-s -w" -o $(BIN)/etcd go.etcd.io/etcd/server/v3
	GOBIN=$(BIN) $(GO) install -ldflags "-s -w" sigs.k8s.io/kwok/cmd/kwok@$(KWOK_VERSION)
	rm -rf $(KWOK_STAGES) && mkdir -p $(KWOK_STAGES)
	dir=$$($(GO) mod download -json sigs.k8s.io/kwok@$(KWOK_VERSION) | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$$/\1/p') && \
		test -n "$$dir" && for f in $(KWOK_STAGE_FILES); do install -m 0644 "$$dir/kustomize/$$f" $(KWOK_STAGES)/; done
	rm -f $(BIN)/.kube-tools-* && touch $@

clean:
	rm -rf $(BIN)
