# The README's test command is `make test`; .ci/run calls exactly that.
GO ?= go

.PHONY: test vet unit e2e build run-dev clean

test: vet unit e2e

vet:
	@test -z "$$(gofmt -l cmd server handlers middleware tools upstream web 2>/dev/null)" || { echo "gofmt needed:"; gofmt -l cmd server handlers middleware tools upstream web; exit 1; }
	$(GO) vet ./...

unit:
	$(GO) test -race -count=1 ./...

e2e:
	cd e2e && npm ci --no-audit --no-fund && npm test

build:
	$(GO) build -o sentinelx-mcp ./cmd/sentinelx-mcp

clean:
	rm -rf sentinelx-mcp e2e/.bin e2e/node_modules e2e/test-output
