# zoneproxy — run `make run` to see it work, `make test` before every commit.
GO      ?= go
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

.PHONY: all build run run-regions test lint bench bench-go clean

all: build

## build: the proxy and the local control plane, into bin/ (static and stripped, as the Dockerfile)
build:
	@mkdir -p bin
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w $(LDFLAGS)" -o bin/ ./cmd/zoneproxy ./cmd/devcp

## run: a local three-AZ control plane (devcp) and zoneproxy on it; Ctrl-C stops both
run: build
	bin/devcp -- bin/zoneproxy -c config.yaml

## run-regions: two regions (a devcp and a zoneproxy each); zoneproxy sync pushes one file to both,
## one region's control plane breaks half-way through a sync, then recovers (deploy/regions/run.sh)
run-regions: build
	bash deploy/regions/run.sh

## test: formatting, vet and every test under the race detector
test: lint
	$(GO) test -race -shuffle=on -timeout 15m ./...

## lint: gofmt and go vet
lint:
	@files=$$(find . -name '*.go' -not -path './bin/*'); \
	out=$$(gofmt -l $$files); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

## bench: zoneproxy against nginx and the bare upstream with wrk (bench/; installs wrk and nginx with
## apt-get if missing). BENCH_DURATION=3s BENCH_SCENARIOS=1route make bench is a quick run.
bench:
	bash bench/run.sh

## bench-go: the Go benchmarks of every package
bench-go:
	$(GO) test -run '^$$' -bench . -benchmem ./...

clean:
	rm -rf bin .devcp
