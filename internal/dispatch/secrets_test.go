package dispatch

import (
	"strings"
	"testing"
)

func TestSecretsExpandAndRedact(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"WEFT_SECRET_TRAINER_TOKEN": `s3cr3t"token`,
		"WEFT_LLM_URL":              "http://127.0.0.1:9/v1",
		"WEFT_DB":                   "postgres://u:pw@db/x",
	}
	sc := newSecrets(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	got, err := sc.expand("Bearer ${secrets.TRAINER_TOKEN}")
	if err != nil || got != `Bearer s3cr3t"token` {
		t.Fatalf("expand = %q, %v", got, err)
	}
	if got, err := sc.expand("${ secrets.WEFT_LLM_URL }/chat and $${secrets.X}"); err != nil || got != "http://127.0.0.1:9/v1/chat and ${secrets.X}" {
		t.Fatalf("expand = %q, %v", got, err)
	}
	if _, err := sc.expand("${secrets.MISSING}"); err == nil || !strings.Contains(err.Error(), "WEFT_SECRET_MISSING") {
		t.Fatalf("missing secret error = %v, want one naming WEFT_SECRET_MISSING", err)
	}
	if _, err := sc.expand("${secrets.WEFT_DB}"); err == nil {
		t.Fatal("a block could read WEFT_DB, the server's own setting")
	}
	red := sc.redact(`dial http://127.0.0.1:9/v1/chat: {"auth":"s3cr3t\"token"} and s3cr3t"token`)
	if strings.Contains(red, "s3cr3t") || strings.Contains(red, "127.0.0.1:9/v1") {
		t.Fatalf("redact left a secret: %s", red)
	}
	if strings.Count(red, Redacted) != 3 {
		t.Fatalf("redact = %s, want 3 redactions", red)
	}
}
