# Extasis — the two commands a newcomer needs:
#   make run    build and start the broker on its embedded defaults
#   make test   install what the tests need (Debian packages) and run every test
SHELL := /bin/bash
GO ?= go
BIN := $(CURDIR)/bin
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/extasis/extasis/core/app.Version=$(VERSION)
PGTEST_DIR ?= /tmp/extasis-pgtest-$(shell id -u)

.PHONY: all build run test test-go deps tools bench fuzz clean

all: build

# The broker and the plugins shipped with it; the broker is linked with the
# sha256 pins of the plugin binaries built here (core/app builtinPins).
build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/plugins/extasis-registry ./plugins/registry
	$(GO) build -o $(BIN)/plugins/extasis-echo ./examples/plugin-echo
	$(GO) build -ldflags "$(LDFLAGS) -X github.com/extasis/extasis/core/app.builtinPins=registry=$$(sha256sum $(BIN)/plugins/extasis-registry | cut -d' ' -f1)" \
		-o $(BIN)/extasis ./cmd/extasis

run: build
	$(BIN)/extasis serve $(if $(CONFIG),--config $(CONFIG))

# Debian packages the tests drive: real clients, a real PostgreSQL, protoc
# for the generated-code check. Installed only when missing.
DEB_PKGS := python3-slixmpp python3-aioxmpp go-sendxmpp sendxmpp postgresql protobuf-compiler zbar-tools
deps:
	@missing=""; for p in $(DEB_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi
	@# xmpp.js for the interop test, from the npm registry with the machine's
	@# Node.js (20.10 or later), at the version package-lock.json pins.
	@test -f $(XMPPJS)/node_modules/@xmpp/client/package.json || \
		(cd $(XMPPJS) && npm ci --no-audit --no-fund --loglevel=error)
XMPPJS := core/app/testdata/xmppjs

# Go tools a test needs: the protobuf generators pinned to the versions the
# committed sdk/proto code was generated with (sdk/PROTOCOL.md).
GOBIN_DIR := $(shell $(GO) env GOPATH)/bin
tools:
	@test -x $(GOBIN_DIR)/protoc-gen-go && $(GOBIN_DIR)/protoc-gen-go --version | grep -q 'v1.36.12' || \
		$(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
	@test -x $(GOBIN_DIR)/protoc-gen-go-grpc && $(GOBIN_DIR)/protoc-gen-go-grpc --version | grep -q '1.6.2' || \
		$(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2

# test: every test of every module, with a throwaway PostgreSQL cluster.
test: deps tools
	@set -e; \
	eval "$$(PGTEST_DIR=$(PGTEST_DIR) .ci/pg.sh start)"; \
	trap 'PGTEST_DIR=$(PGTEST_DIR) .ci/pg.sh stop >/dev/null 2>&1 || true' EXIT; \
	$(MAKE) --no-print-directory test-go

# The end-to-end packages run a second time with every broker on
# PostgreSQL (apptest reads EXTASIS_TEST_BACKEND); about three minutes.
# Tests that choose their backends themselves ran in the first pass.
E2E_PKGS := ./core/app/ ./core/im/ ./core/c2s/ ./core/register/
E2E_PG_SKIP := TestPostgresOutageUnderTraffic|TestStorageRoundTrip|TestServeStorageErrors

test-go:
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 20m ./...
	@if [ -n "$$EXTASIS_TEST_POSTGRES" ] || [ "$$CI" = true ]; then \
		echo "EXTASIS_TEST_BACKEND=postgres $(GO) test -count=1 -timeout 20m -skip '$(E2E_PG_SKIP)' $(E2E_PKGS)"; \
		EXTASIS_TEST_BACKEND=postgres $(GO) test -count=1 -timeout 20m -skip '$(E2E_PG_SKIP)' $(E2E_PKGS); \
	else \
		echo "end-to-end tests on PostgreSQL skipped: EXTASIS_TEST_POSTGRES is not set (make test sets it)"; \
	fi
	@if [ -f sdk/go.mod ]; then cd sdk && $(GO) vet ./... && $(GO) test -count=1 -timeout 10m ./...; fi

# bench: the Go micro-benchmarks; the side-by-side load tests with Prosody and
# ejabberd are described in BENCHMARKS.md.
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./core/...

# fuzz: run each fuzz target for FUZZTIME (seeds run in every `go test`).
FUZZTIME ?= 30s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
		for t in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
			echo "== $$pkg $$t"; $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
		done; \
	done

clean:
	rm -rf $(BIN)
