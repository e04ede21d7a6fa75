# relay — the two commands a newcomer needs are `make run` and `make test`.
SHELL := /bin/bash
GO    ?= go
BIN   := bin/relay
VERSION := $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)

# make run: embedded NATS (no server needed) and the local PostgreSQL; the
# database is created if missing. Override any RELAY_* variable in the
# environment. The demo key below is for trying relay out only.
export RELAY_API_KEYS ?= demo:demo-key-change-me
export RELAY_NATS_URL ?=
export RELAY_LOG_FORMAT ?= text

.PHONY: all build run test lint unit helm-check fuzz bench chaos vuln fake-ctrack clean

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/relay

run: build
	@echo "relay: http://$${RELAY_HTTP_ADDR:-127.0.0.1:8080}  API key: $${RELAY_API_KEYS#*:}  (Ctrl-C stops)"
	./$(BIN) serve

# A fake Liasmart CTrack for local trials: run it, then
#   RELAY_LIASMART_URL=http://127.0.0.1:9090 RELAY_LIASMART_API_ID=demo RELAY_LIASMART_API_PASSWORD=demo make run
fake-ctrack: build
	./$(BIN) fake-ctrack --addr 127.0.0.1:9090

# make test: formatting, vet, staticcheck and every test (race detector on)
# against the real PostgreSQL on 127.0.0.1:5432 and in-process NATS servers.
# With CI=1 (.ci/run sets it) a test whose prerequisite is missing (Chromium,
# PostgreSQL's server binaries, nats-server) fails instead of skipping.
test: lint unit helm-check

lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

unit:
	$(GO) test -race -count=1 -timeout 8m ./...

# make helm-check: helm lint and helm template | kubeconform -strict on the
# chart in deploy/helm/relay, once with the defaults and once with the HPA,
# the ServiceMonitor and every secret source on. helm and kubeconform are
# pinned in tools/helm/go.mod, a module of their own so that relay's go.mod
# does not carry their dependencies. The Kubernetes schemas are checked in
# (deploy/helm/schemas/generate.py says where they come from), so no network
# is needed once the module cache holds the tools. kubeconform has no schema
# for the ServiceMonitor CRD and skips it; the check asserts it renders.
HELM        := cd tools/helm && $(GO) tool helm
CHART       := $(CURDIR)/deploy/helm/relay
SCHEMAS     := $(CURDIR)/deploy/helm/schemas
KUBECONFORM_FLAGS := -strict -summary -skip ServiceMonitor \
	-schema-location '$(SCHEMAS)/{{ .ResourceKind }}{{ .KindSuffix }}.json'
HELM_OPTIONAL := --set ingest.autoscaling.enabled=true --set worker.autoscaling.enabled=true \
	--set serviceMonitor.enabled=true --set 'vendorSecrets={relay-vendors}' \
	--set 'secretEnv[0].name=RELAY_TWILIO_AUTH_TOKEN,secretEnv[0].secretName=relay-twilio,secretEnv[0].key=auth-token' \
	--set nats.urlSecret.name=relay-nats --set env.RELAY_CONFIRM_VENDORS=liasmart
helm-check:
	$(HELM) lint --strict $(CHART)
	$(HELM) lint --strict $(CHART) $(HELM_OPTIONAL)
	set -o pipefail; $(HELM) template relay $(CHART) | $(GO) tool kubeconform $(KUBECONFORM_FLAGS)
	set -o pipefail; out=$$($(HELM) template relay $(CHART) $(HELM_OPTIONAL)) && \
	  printf '%s\n' "$$out" | (cd tools/helm && $(GO) tool kubeconform $(KUBECONFORM_FLAGS)) && \
	  for kind in HorizontalPodAutoscaler ServiceMonitor; do \
	    grep -q "^kind: $$kind$$" <<<"$$out" || { echo "helm-check: no $$kind rendered"; exit 1; }; done

# make fuzz: each fuzz target for FUZZTIME (default 30s).
FUZZTIME ?= 30s
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; done

# make vuln needs the network to reach the Go vulnerability database; it is
# not part of make test or CI for that reason.
vuln:
	$(GO) tool govulncheck ./...

# make chaos: the full chaos suite (about 3-4 min): relay as real processes,
# a private PostgreSQL cluster and a nats-server, killed and restarted under
# load; -v prints each scenario's timeline and summary. make test runs the
# short version (~2.5 min). See README.md, Reliability.
chaos:
	$(GO) test -count=1 -timeout 15m -v -run . ./chaos -args -chaos.full

# make bench: relay next to its baselines on this machine (about 8 min, the
# two-replica and footprint phases ~2.5 min of it, four vendors ~25 s),
# table on stdout and in bench/results/latest.md and latest.json; needs the
# local PostgreSQL. BENCHFLAGS passes flags, e.g. BENCHFLAGS=-profile or
# BENCHFLAGS='-backlog 1000000' (see README.md, Performance).
BENCHFLAGS ?=
bench:
	$(GO) run ./bench/cmd/relaybench $(BENCHFLAGS)

clean:
	rm -rf bin data
