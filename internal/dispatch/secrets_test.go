package dispatch

import (
	"encoding/json"
	"fmt"
	"html"
	"math/rand/v2"
	"net/url"
	"strings"
	"testing"
	"time"
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

// outward lists the ways a value leaves Weft in text: as is, in JSON
// written by Go (with and without HTML escaping) or by Python, in HTML
// (Go's html and templ escaping, and &quot; style) and in URLs.
var outward = map[string]func(string) string{
	"raw":          func(v string) string { return v },
	"json":         func(v string) string { b, _ := json.Marshal(v); return string(b) },
	"json-nohtml":  func(v string) string { return `"` + jsonInner(v, false) + `"` },
	"json-python":  func(v string) string { return `"` + jsonASCII(v) + `"` },
	"json-slashes": func(v string) string { return strings.ReplaceAll(jsonInner(v, false), "/", `\/`) },
	"html":         html.EscapeString,
	"html-quot": func(v string) string {
		return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&#x27;").Replace(v)
	},
	"query":     url.QueryEscape,
	"path":      url.PathEscape,
	"component": urlComponent,
}

// randomSecret is 4 to 28 characters that always include " and < (the
// pair that escaped redaction) and draws the rest from characters every
// encoding treats differently.
func randomSecret(r *rand.Rand) string {
	alphabet := []rune(`abcXYZ019"<>&'\/ %+?#=@:;é😀` + "\t\n\u2028\x01")
	n := 2 + r.IntN(27)
	out := []rune{'"', '<'}
	for range n {
		out = append(out, alphabet[r.IntN(len(alphabet))])
	}
	r.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return string(out)
}

// Finding 3 (property): for random secret values, no encoding of the
// secret survives redaction, in text or in a JSON document.
func TestRedactEveryEncodingProperty(t *testing.T) {
	t.Parallel()
	seed := uint64(time.Now().UnixNano())
	r := rand.New(rand.NewPCG(seed, 7))
	for i := 0; i < 3000; i++ {
		secret := randomSecret(r)
		sc := newSecrets(func(string) (string, bool) { return secret, true })
		if _, err := sc.expand("${secrets.S}"); err != nil {
			t.Fatal(err)
		}
		for name, enc := range outward {
			text := "before " + enc(secret) + " after " + enc(secret)
			got := sc.redact(text)
			for name2, enc2 := range outward {
				if e := enc2(secret); strings.Contains(got, e) && len(e) >= minRedact {
					t.Fatalf("seed %d: secret %q written as %s survives as %s: %q", seed, secret, name, name2, got)
				}
			}
		}
		// A JSON answer, encoded by Go, by Python or by hand.
		for _, doc := range []string{
			`{"a": ` + outward["json"](secret) + `, "b": [` + outward["json-python"](secret) + `]}`,
			`{` + outward["json-nohtml"](secret) + `: "x"}`,
		} {
			got := sc.redactJSON([]byte(doc))
			if !json.Valid(got) {
				t.Fatalf("seed %d: redacted JSON is not JSON: %s", seed, got)
			}
			var v any
			json.Unmarshal(got, &v)
			all, _ := json.Marshal(v)
			if strings.Contains(string(all), jsonInner(secret, true)) || strings.Contains(fmt.Sprint(v), secret) {
				t.Fatalf("seed %d: secret %q survives in %s", seed, secret, got)
			}
		}
	}
}

// Finding 3: a secret that goes into a URL after its host is
// percent-encoded; one that starts it (a base URL) is not.
func TestSecretsInURLsAreEncoded(t *testing.T) {
	t.Parallel()
	env := map[string]string{"WEFT_SECRET_K": `a b&c=d/e?"<#`, "WEFT_LLM_URL": "http://127.0.0.1:9/v1", "WEFT_SECRET_HOST": "127.0.0.1:9"}
	sc := newSecrets(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	for tmpl, want := range map[string]string{
		"http://h/x?key=${secrets.K}&y=1": "http://h/x?key=a%20b%26c%3Dd%2Fe%3F%22%3C%23&y=1",
		"http://h/p/${secrets.K}/q":       "http://h/p/a%20b%26c%3Dd%2Fe%3F%22%3C%23/q",
		"https://u:${secrets.K}@h/x":      "https://u:a%20b%26c%3Dd%2Fe%3F%22%3C%23@h/x",
		"${secrets.WEFT_LLM_URL}/chat":    "http://127.0.0.1:9/v1/chat",
		"http://${secrets.HOST}/x":        "http://127.0.0.1:9/x",
		"http://h/$${secrets.K}":          "http://h/${secrets.K}",
	} {
		got, err := sc.expandURL(tmpl)
		if err != nil || got != want {
			t.Errorf("expandURL(%s) = %q, %v; want %q", tmpl, got, err, want)
		}
		u, err := url.Parse(got)
		if err != nil {
			t.Errorf("%s: %v", got, err)
		} else if strings.Contains(tmpl, "key=") && u.Query().Get("key") != env["WEFT_SECRET_K"] {
			t.Errorf("%s: the query value reads back as %q", got, u.Query().Get("key"))
		}
	}
}
