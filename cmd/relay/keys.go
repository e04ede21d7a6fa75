package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"regexp"
	"text/tabwriter"
	"time"

	"relay/internal/inbound"
	"relay/internal/store"
)

var keyNameRe = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// cmdKeys manages the ingest API keys stored in PostgreSQL.
func cmdKeys(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError{errors.New("usage: relay keys create --name N | list [--all] [--json] | revoke N")}
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("keys "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	name := fs.String("name", "", "key name (letters, digits, . _ -; at most 64)")
	all := fs.Bool("all", false, "list revoked keys too")
	asJSON := fs.Bool("json", false, "list as a JSON array of {name, source, created_at, revoked_at}")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if sub == "revoke" && *name == "" && fs.NArg() == 1 {
		*name = fs.Arg(0)
	}
	if (sub == "create" || sub == "revoke") && !keyNameRe.MatchString(*name) {
		return usageError{fmt.Errorf("%s needs a key name of 1-64 letters, digits, '.', '_' or '-'", sub)}
	}
	st, cfg, err := openCLIStore(ctx, getenv)
	if err != nil {
		return err
	}
	defer st.Close()
	if _, err := st.Migrate(ctx); err != nil {
		return err
	}
	switch sub {
	case "create":
		var raw [24]byte
		if _, err := rand.Read(raw[:]); err != nil {
			return err
		}
		secret := "rk_" + base64.RawURLEncoding.EncodeToString(raw[:])
		if err := st.CreateAPIKey(ctx, *name, inbound.Digest(secret)); err != nil {
			if errors.Is(err, store.ErrExists) {
				return fmt.Errorf("a key named %q exists already (revoked keys keep their name)", *name)
			}
			return err
		}
		fmt.Fprintf(stdout, "%s\n", secret)
		fmt.Fprintf(stderr, "key %q created; the secret above is shown once: use it as \"Authorization: Bearer <secret>\"\n", *name)
	case "list":
		keys, err := st.APIKeys(ctx, *all)
		if err != nil {
			return err
		}
		views := make([]keyView, 0, len(keys)+len(cfg.APIKeys))
		for _, k := range keys {
			views = append(views, keyView{Name: k.Name, Source: "stored", CreatedAt: utc(&k.CreatedAt), RevokedAt: utc(k.RevokedAt)})
		}
		for _, k := range cfg.APIKeys {
			views = append(views, keyView{Name: k.Name, Source: "RELAY_API_KEYS"})
		}
		if *asJSON {
			return printJSON(stdout, views)
		}
		w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "NAME\tSOURCE\tCREATED_AT\tREVOKED_AT")
		cell := func(t *time.Time) string {
			if t == nil {
				return "-"
			}
			return tableTime(*t)
		}
		for _, k := range views {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", k.Name, k.Source, cell(k.CreatedAt), cell(k.RevokedAt))
		}
		return w.Flush()
	case "revoke":
		if err := st.RevokeAPIKey(ctx, *name); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("no active stored key named %q (keys from RELAY_API_KEYS are removed from that variable)", *name)
			}
			return err
		}
		fmt.Fprintf(stdout, "key %q revoked; every replica refuses it within seconds\n", *name)
	default:
		return usageError{fmt.Errorf("unknown keys command %q", sub)}
	}
	return nil
}

// keyView is one key of `relay keys list`. The secret is never listed: a
// stored key keeps only its digest, and a RELAY_API_KEYS key's secret is
// the operator's own.
type keyView struct {
	Name string `json:"name"`
	// Source is "stored" (made with `relay keys create`) or
	// "RELAY_API_KEYS".
	Source    string     `json:"source"`
	CreatedAt *time.Time `json:"created_at"`
	RevokedAt *time.Time `json:"revoked_at"`
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
