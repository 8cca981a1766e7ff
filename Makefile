# callstream — see README.md. `make help` lists the targets.
GO        ?= go
STATICCHECK_VERSION ?= v0.8.2
PKGS      := ./...
# Stamped into the binary (callstream version); the image's build context
# has no .git for the build info to read them from.
VERSION    ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT     ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
BUILD_DATE ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS    := -X main.version=$(VERSION) -X main.commit=$(COMMIT) -X main.date=$(BUILD_DATE)

.PHONY: help demo test test-unit test-alloc test-kafka test-interop lint bench bench-kafka bench-compression bench-budget bench-callrecords bench-density build image generate

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

demo: ## run the pipeline against simulated Graph + in-process Kafka
	$(GO) run ./cmd/callstream demo

build: ## build bin/callstream
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/callstream ./cmd/callstream

generate: ## regenerate schemas' row codecs (from the sources registry and the .avsc files) and the settings tables in README.md and docs/
	$(GO) generate ./schemas ./cmd/callstream

image: ## build the container image (needs a Docker engine; VERSION=... to override the stamp)
	docker build --build-arg VERSION=$(VERSION) --build-arg COMMIT=$(COMMIT) --build-arg BUILD_DATE=$(BUILD_DATE) -t callstream:$(VERSION) .

lint: ## gofmt, go vet, staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) $(PKGS)

test-unit: ## the whole suite against in-process kfake
	$(GO) test -race -count=1 -timeout 20m $(PKGS)

test-alloc: ## allocation budgets of the hot path (without -race, which changes allocation)
	$(GO) test -count=1 -run 'Allocations' $(PKGS)

test-kafka: ## the Kafka-facing suites against a real Apache Kafka broker, SASL/TLS listeners included (needs Java 17+ and Maven)
	scripts/kafka-test.sh $(GO) test -race -count=1 -timeout 30m ./internal/... ./checkpoint/ ./producer/ ./walk/ ./pipeline/... ./cmd/...

test-interop: ## Confluent's Python client (from PyPI) reads what callstream wrote to a real broker
	tests/interop/run.sh

test: lint test-unit test-alloc test-kafka test-interop ## everything CI runs

bench-compression: ## bytes on the wire and rows/s per codec for callstream's rows (kfake, or KAFKA_TEST_BROKERS)
	$(GO) test -run '^$$' -bench Compression -benchtime 5x ./tests/bench/

bench-budget: ## issue 14's figures: 90-day backfills of 100, 2,000 and 50,000 calls a day against Graph's limits at 12× (600/min, budget matched) — requests vs ceil(rows/1000), 429s, wall vs requests/limit — and 7 simulated days of steady state (CALLSTREAM_BENCH_BINARY measures another build)
	$(GO) test -run '^$$' -bench 'Budget|SteadyState' -benchtime 1x -timeout 60m ./tests/bench/

bench-callrecords: ## issue 17's figures: a backfill of 29 days 20 hours of call records (≈5,000 a day, 149,000) against the call-records family's limits at 6× (9,000 requests/20 s, budget matched) — requests (list, gets, sessions pages), 429s (target ≤ 0.5%), wall vs requests/limit, the ETA printed vs the time really left (CALLSTREAM_BENCH_BINARY measures another build)
	$(GO) test -run '^$$' -bench CallRecords -benchtime 1x -timeout 60m ./tests/bench/

bench-density: ## issue 13's figures: one replica serving 1,000 simulated tenants × 2 sources in steady state — peak RSS, CPU, broker connections (a real broker with KAFKA_TEST_BROKERS, or scripts/kafka-test.sh)
	$(GO) test -run '^$$' -bench Density -benchtime 1x -timeout 30m ./tests/bench/

bench-kafka: ## transactional vs plain publishing on a real broker (needs Java 17+ and Maven)
	scripts/kafka-test.sh $(GO) test -run '^$$' -bench BenchmarkPublish -benchtime 20x ./producer/

bench: ## benchmarks: per-row decode+encode, the whole walk, and issue 7's figures (ratio, rows/s, ns/row, allocs/row, peak RSS; see docs/performance.md)
	$(GO) test -run '^$$' -bench . -benchmem ./schemas/ ./walk/
	$(GO) test -run '^$$' -bench 'HotPath' -benchtime 5x -timeout 30m ./tests/bench/
	$(GO) test -run '^$$' -bench 'RunOnce' -benchtime 1x -timeout 60m ./tests/bench/
