# raftchat build and test entry points. Every target works on a fresh clone with Go 1.26;
# `make proto` additionally needs protoc (Debian: protobuf-compiler), which .ci/run installs.
GO        ?= go
TOOLS     := -modfile=tools/go.mod
BIN       := $(CURDIR)/.bin
PKGS      := ./...
FUZZTIME  ?= 60s

.PHONY: all build test test-race lint vet fmt proto proto-check bench fuzz sim-soak soak-props e2e bench-cluster clean

all: build

build:
	$(GO) build -o $(BIN)/ ./cmd/...

# The README's test command: unit, property, datadriven, simulation and short end-to-end tests,
# with the expensive invariant checks switched on.
test:
	$(GO) vet -tags invariants $(PKGS)
	$(GO) test -tags invariants -count=1 -timeout 15m $(PKGS)

# The pure packages under the race detector (the runtime packages run their own -race tests).
test-race:
	$(GO) test -race -tags invariants -count=1 -timeout 20m $(PKGS)

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1)
	$(GO) tool $(TOOLS) golangci-lint run $(PKGS)

vet:
	$(GO) vet -tags invariants $(PKGS)

fmt:
	gofmt -w $$(git ls-files '*.go')

$(BIN)/protoc-gen-go $(BIN)/protoc-gen-go-grpc: tools/go.mod
	$(GO) build $(TOOLS) -o $(BIN)/ google.golang.org/protobuf/cmd/protoc-gen-go google.golang.org/grpc/cmd/protoc-gen-go-grpc

# Regenerates every .pb.go beside its .proto. The output is committed.
proto: $(BIN)/protoc-gen-go $(BIN)/protoc-gen-go-grpc
	cd proto && PATH=$(BIN):$$PATH protoc -I . \
		--go_out=. --go_opt=paths=source_relative \
		--go-grpc_out=. --go-grpc_opt=paths=source_relative \
		$$(find . -name '*.proto' | sed 's|^\./||' | sort)

# Fails when the committed generated code differs from a fresh regeneration.
proto-check: proto
	git diff --exit-code -- proto

bench:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

fuzz:
	scripts/fuzz.sh $(FUZZTIME)

# The acceptance sweep: 1000 seeds of 60 simulated seconds with every fault class, then 500
# with membership changes on top (swarm mode leaves --membership off, so its seeds keep their
# schedules).
sim-soak:
	$(GO) run ./cmd/chatsim sweep --seeds 1-1000 --partition --crash --skew --drop 0.05 --dup 0.02 --swarm
	$(GO) run ./cmd/chatsim sweep --seeds 1-500 --partition --crash --skew --drop 0.05 --dup 0.02 --membership

# Deeper property runs of the pure packages than `make test` affords.
soak-props:
	$(GO) test -tags invariants -count=1 -run TestPropertySafety ./raft/ -rapid.checks=10000
	$(GO) test -tags invariants -count=1 -run 'TestModel|TestDeterminism' ./statemachine/ -rapid.checks=1500

# Real chatd processes on loopback, the leader SIGKILLed and restarted for many cycles.
e2e:
	RAFTCHAT_E2E_CYCLES=10 $(GO) test -count=1 -timeout 30m -v ./e2e/

# Write throughput and latency of a local 3-node cluster (fsync on), next to etcd's on the
# same machine (../shared/bench/etcd-baseline.sh builds etcd 3.7.3 on first use).
bench-cluster: build
	scripts/bench-cluster.sh

clean:
	rm -rf $(BIN)
