// Command yardstick is a bare go-sdk MCP server with one trivial tool and
// nothing else: no auth, no middleware, the SDK's defaults. The e2e
// conformance test (e2e/tests/conformance.test.js) runs the MCP conformance
// suite against it and against sentinelx-mcp in the same run, and the bridge
// must pass every scenario this server passes (DESIGN.md "Authentication and
// authorization", item 2). It is test support, not part of the product.
//
// With -issuer it is also the reference `make bench` measures the bridge
// against (e2e/bench): go-sdk's auth.RequireBearerToken in front, verifying
// an RS256 JWT on every request (signature against the issuer's JWKS,
// fetched once at start; iss, aud, exp) with go-jose, as a bare server
// would, without a cache.
//
//	go build -o e2e/.bin/yardstick ./e2e/yardstick
//	yardstick -addr 127.0.0.1:0 [-stateless] [-issuer URL -audience AUD]
//
// It prints "yardstick listening on http://HOST:PORT/mcp" once it accepts
// connections and stops on SIGINT/SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

type echoInput struct {
	Text string `json:"text,omitempty" jsonschema:"text to send back"`
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "yardstick:", err)
		os.Exit(1)
	}
}

func run() error {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	stateless := flag.Bool("stateless", false, "StreamableHTTPOptions.Stateless (required for the 2026-07-28 revision)")
	issuer := flag.String("issuer", "", "require an RS256 JWT from this issuer (JWKS from its OIDC discovery document)")
	audience := flag.String("audience", "", "the audience the JWT must name (with -issuer)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	s := mcp.NewServer(&mcp.Implementation{Name: "yardstick", Version: "0.0.0"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "echo", Description: "Returns its text."},
		func(_ context.Context, _ *mcp.CallToolRequest, in echoInput) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: in.Text}}}, nil, nil
		})
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s },
		&mcp.StreamableHTTPOptions{Stateless: *stateless})
	var handler http.Handler = h
	if *issuer != "" {
		verify, err := jwtVerifier(*issuer, *audience)
		if err != nil {
			return err
		}
		handler = auth.RequireBearerToken(verify, nil)(h)
	}
	mux := http.NewServeMux()
	mux.Handle("/mcp", handler)

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	fmt.Printf("yardstick listening on http://%s/mcp\n", ln.Addr())

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
