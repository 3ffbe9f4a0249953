# dlltagent: `make demo` shows it diagnose real failures; `make test` runs
# every test. Both work as root on a fresh Debian machine.
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
BIN     := bin/dlltagent

.PHONY: all build deps test test-short demo bench fuzz image k8s-bin clean

all: build

deps:
	@./scripts/install-deps.sh

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/dlltagent

# Full suite: gofmt, vet, then every test with the race detector. Live capture
# tests need root (they build network namespaces) and skip without it.
test: deps k8s-bin
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); if [ -n "$$out" ]; then echo "gofmt needed: $$out"; exit 1; fi
	$(GO) vet ./...
	cd lab/grpcpeer && $(GO) vet . && $(GO) build -o /dev/null . # the lab's gRPC peer (its own module): compiled before the timed live tests
	cd lab/kafkapeer && $(GO) vet . && $(GO) build -o /dev/null . # the lab's Kafka broker and client (its own module), likewise
	cd lab/mongopeer && $(GO) vet . && $(GO) build -o /dev/null . # the lab's MongoDB client (its own module), which the demo runs
	$(GO) test -count=1 -run 'Allocs' ./decode ./flowtable ./detectors
	$(GO) test -race -count=1 -timeout 20m ./...

test-short:
	$(GO) test -count=1 ./...

demo: deps build
	./scripts/demo.sh $(BIN)

bench: deps build
	./bench/run.sh $(BIN)

# Each fuzz target for FUZZTIME (make test replays their seed corpora).
FUZZTIME ?= 30s
fuzz:
	$(GO) test ./decode -run '^$$' -fuzz FuzzParse -fuzztime $(FUZZTIME)
	$(GO) test ./internal/pcapio -run '^$$' -fuzz FuzzReader -fuzztime $(FUZZTIME)
	$(GO) test ./detectors -run '^$$' -fuzz FuzzTLS -fuzztime $(FUZZTIME)
	$(GO) test ./detectors -run '^$$' -fuzz FuzzDNS -fuzztime $(FUZZTIME)
	$(GO) test ./detectors -run '^$$' -fuzz FuzzHeaderSearch -fuzztime $(FUZZTIME)
	$(GO) test ./detectors -run '^$$' -fuzz FuzzCertDNSNames -fuzztime $(FUZZTIME)
	$(GO) test ./detectors -run '^$$' -fuzz FuzzH2Request -fuzztime $(FUZZTIME)
	$(GO) test ./detectors -run '^$$' -fuzz FuzzH2C -fuzztime $(FUZZTIME)
	$(GO) test ./detectors -run '^$$' -fuzz FuzzDBStream -fuzztime $(FUZZTIME)
	$(GO) test ./detectors -run '^$$' -fuzz FuzzCertMessage -fuzztime $(FUZZTIME)
	$(GO) test ./detectors -run '^$$' -fuzz FuzzConversation -fuzztime $(FUZZTIME)
	$(GO) test ./detectors -run '^$$' -fuzz FuzzHTTPResponse -fuzztime $(FUZZTIME)

# The container image as a tarball (docker load / ctr import), built
# without a Docker daemon.
image: build
	$(GO) run ./deploy/image -bin $(BIN) -o bin/dlltagent-image.tar -tag ghcr.io/dlltagent/dlltagent:$(VERSION)

# kube-apiserver and etcd for the Kubernetes tests (cached in .cache/k8s).
k8s-bin:
	./scripts/build-k8s.sh

clean:
	rm -rf bin dlltagent-out
