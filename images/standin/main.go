// Command edge-standin stands in for the tracebloc edge workload (jobs-manager) in the demo
// and the end-to-end tests, where the real image cannot be pulled: like the workload, it
// reads CLIENT_ID and CLIENT_PASSWORD from its environment (the credential Secret, through
// secretKeyRef), logs in with them (POST /api-token-auth/ at TRACEBLOC_API_URL, when set),
// says so without printing either, and then runs until it is stopped.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/tracebloc/edge/internal/api"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	id, password := getenv("CLIENT_ID"), getenv("CLIENT_PASSWORD")
	if id == "" || password == "" {
		return fmt.Errorf("CLIENT_ID or CLIENT_PASSWORD is empty: the credential Secret is not in place")
	}
	fmt.Fprintf(stdout, "edge workload: CLIENT_ID and CLIENT_PASSWORD are set (%d and %d characters)\n", len(id), len(password))
	if url := getenv("TRACEBLOC_API_URL"); url != "" {
		c, err := api.New(url)
		if err != nil {
			return err
		}
		if err := c.VerifyCredential(ctx, id, password); err != nil {
			return fmt.Errorf("log in to %s with the machine credential: %w", url, err)
		}
		fmt.Fprintf(stdout, "edge workload: logged in to %s with the machine credential\n", url)
	}
	<-ctx.Done()
	return nil
}
