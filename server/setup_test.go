package server_test

import (
	"context"
	"testing"

	"github.com/weftlabs/weft/engine"
	"github.com/weftlabs/weft/internal/auth"
	"github.com/weftlabs/weft/server"
)

// setup starts a server over a fresh store on a real listener.
func setupAPI(t *testing.T, open storeOpener, o apiOptions) *apiBundle {
	t.Helper()
	st := open(t)
	b := &apiBundle{st: st, tokens: map[auth.Role]string{}}
	if o.auth {
		for _, r := range []auth.Role{auth.Viewer, auth.Operator, auth.Admin, auth.Worker} {
			b.tokens[r] = storeToken(t, st, string(r), "")
		}
		b.tokens[auth.Webhook] = storeToken(t, st, "webhook", "hooked")
	}
	ctx, cancel := context.WithCancel(context.Background())
	eng := engine.New(engine.Config{}, st, apiLogger(t))
	done := make(chan struct{})
	go func() { defer close(done); eng.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	deps := server.Deps{Engine: eng, Catalog: st, Tokens: st, Ready: server.ReadyFunc(st.Ping), Logger: apiLogger(t), Logs: st}
	if o.blobs != nil {
		deps.Artifacts = server.ArtifactDeps{Meta: st, Blobs: o.blobs}
	}
	srv := server.New(server.Config{MaxBodyBytes: o.maxBody, MaxLogBytes: o.maxLog, MaxOutputBytes: o.maxOutput, MaxArtifactBytes: o.maxArt, AuthRequired: o.auth, AuthReason: "test"}, deps)
	b.srv = srv
	b.url = serveOnLoopback(t, srv)
	return b
}
