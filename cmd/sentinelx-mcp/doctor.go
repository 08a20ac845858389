package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/pensados/sentinelx-mcp/server/doctor"
)

// errNotReady makes the process exit 1 after doctor printed its report.
var errNotReady = errors.New("doctor: not ready to serve")

// runDoctor parses doctor's flags and prints the report of server/doctor.
func runDoctor(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("doctor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	envFile := fs.String("env-file", "", "read the configuration from this env file (as systemd would give it to serve) instead of the environment")
	token := fs.String("token", "", "explain why this access token would be accepted or refused (never printed; prefer --token-file)")
	tokenFile := fs.String("token-file", "", "read the token to explain from this file (- for standard input)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	timeout := fs.Duration("timeout", doctor.DefaultTimeout, "time limit of each check")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	o := doctor.Options{Getenv: getenv, Source: "the environment", Token: *token, Timeout: *timeout, Version: buildVersion()}
	if *envFile != "" {
		vars, err := doctor.ReadEnvFile(*envFile)
		if err != nil {
			return fmt.Errorf("--env-file: %w", err)
		}
		o.Getenv = func(k string) string { return vars[k] }
		o.Source, o.Unknown = *envFile, doctor.Unknown(vars)
	}
	if *tokenFile != "" {
		var b []byte
		var err error
		if *tokenFile == "-" {
			b, err = io.ReadAll(io.LimitReader(os.Stdin, 64<<10))
		} else {
			b, err = os.ReadFile(*tokenFile)
		}
		if err != nil {
			return fmt.Errorf("--token-file: %w", err)
		}
		o.Token = strings.TrimSpace(string(b))
	}
	rep := doctor.Run(ctx, o)
	if *asJSON {
		if err := rep.WriteJSON(stdout); err != nil {
			return err
		}
	} else {
		rep.WriteText(stdout)
	}
	if !rep.OK {
		return errNotReady
	}
	return nil
}
