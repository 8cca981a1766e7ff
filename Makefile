# callstream — see README.md. `make help` lists the targets.
GO        ?= go
STATICCHECK_VERSION ?= v0.8.2
PKGS      := ./...

.PHONY: help demo test test-unit test-kafka lint bench build image

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

demo: ## run the pipeline against simulated Graph + in-process Kafka
	$(GO) run ./cmd/callstream demo

build: ## build bin/callstream
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/callstream ./cmd/callstream

image: ## build the container image (needs a Docker engine; VERSION=... to stamp it)
	docker build --build-arg VERSION=$${VERSION:-$$(git describe --tags --always --dirty 2>/dev/null || echo dev)} -t callstream:$${VERSION:-dev} .

lint: ## gofmt, go vet, staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) $(PKGS)

test-unit: ## the whole suite against in-process kfake
	$(GO) test -race -count=1 -timeout 20m $(PKGS)

test-kafka: ## the Kafka-facing suites against a real Apache Kafka broker (needs Java 17+ and Maven)
	scripts/kafka-test.sh $(GO) test -race -count=1 -timeout 30m ./internal/kafkatest/ ./producer/ ./walk/ ./cmd/...

test: lint test-unit test-kafka ## everything CI runs

bench: ## benchmarks: per-row decode+encode and the whole walk
	$(GO) test -run '^$$' -bench . -benchmem ./schemas/ ./walk/
