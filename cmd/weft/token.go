package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"text/tabwriter"
	"time"

	"github.com/weftlabs/weft/internal/store"
	"github.com/weftlabs/weft/server"
)

func cmdToken(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) == 0 || (args[0] != "create" && args[0] != "list" && args[0] != "delete") {
		fmt.Fprintln(stderr, "usage: weft token create --role viewer|operator|admin|worker|webhook [--name N] [--flow F]\n       weft token list\n       weft token delete ID\n\nTokens are written to the database (--db) directly, so the first admin\ntoken can be made before the server requires one.")
		if len(args) > 0 && (args[0] == "--help" || args[0] == "-h") {
			return nil
		}
		return errUsage
	}
	sub := args[0]
	fs := newFlags("token "+sub, stderr)
	db := fs.String("db", "weft.db", "database: a postgres:// URL or a SQLite file path")
	var role, name, flow *string
	if sub == "create" {
		role = fs.String("role", "", "viewer (read), operator (runs, signals, tasks), admin (uploads, tokens), worker (tasks only) or webhook (start one flow)")
		name = fs.String("name", "", "a name shown in lists and run events")
		flow = fs.String("flow", "", "webhook tokens: the flow they may start")
	}
	fs.Usage = usage(fs, "token "+sub+" [flags]", "Manage API tokens; only their SHA-256 is stored.")
	if err := parse(fs, reorder(args[1:], fs), getenv); err != nil {
		return err
	}
	st, err := store.Open(ctx, *db, slog.New(slog.DiscardHandler))
	if err != nil {
		return fmt.Errorf("open database %s: %w", *db, err)
	}
	defer st.Close()
	switch sub {
	case "create":
		if *role == "" {
			fs.Usage()
			return errUsage
		}
		t, secret, err := server.NewToken(*role, *name, *flow)
		if err != nil {
			return err
		}
		if err := st.CreateToken(ctx, t); err != nil {
			return err
		}
		fmt.Fprintln(stdout, secret)
		fmt.Fprintf(stderr, "token %s (id %s, role %s) created; it is shown only this once\n", t.Name, t.ID, t.Role)
	case "list":
		ts, err := st.ListTokens(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tROLE\tFLOW\tCREATED")
		for _, t := range ts {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, t.Role, t.Flow, t.CreatedAt.Local().Format(time.DateTime))
		}
		return tw.Flush()
	case "delete":
		if fs.NArg() != 1 {
			fs.Usage()
			return errUsage
		}
		if err := st.DeleteToken(ctx, fs.Arg(0)); err != nil {
			return fmt.Errorf("delete token %s: %w", fs.Arg(0), err)
		}
		fmt.Fprintf(stderr, "token %s deleted\n", fs.Arg(0))
	}
	return nil
}
