package dispatch

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"unicode/utf16"
)

// secretRef matches ${secrets.NAME}; $${ is a literal "${".
var secretRef = regexp.MustCompile(`\$?\$\{\s*secrets\.([A-Za-z_][A-Za-z0-9_]*)\s*\}`)

// reserved are the server's own settings, never handed to a block.
var reserved = map[string]bool{
	"WEFT_DB": true, "WEFT_ADDR": true, "WEFT_AUTH": true, "WEFT_PUBLIC_URL": true,
	"WEFT_CONFIG": true, "WEFT_TOKEN": true, "WEFT_SERVER": true, "WEFT_TEST_POSTGRES_URL": true, "WEFT_FAILPOINT": true,
}

// SecretEnv is the environment variable ${secrets.NAME} reads: NAME itself
// when it starts with WEFT_ (WEFT_LLM_URL), else WEFT_SECRET_NAME
// (${secrets.TRAINER_TOKEN} reads WEFT_SECRET_TRAINER_TOKEN). So a block
// can read only variables meant for it, never the server's other
// environment or its own settings (WEFT_DB, ...).
func SecretEnv(name string) (string, error) {
	env := name
	if !strings.HasPrefix(name, "WEFT_") {
		env = "WEFT_SECRET_" + name
	}
	if reserved[env] {
		return "", fmt.Errorf("secret %s names a setting of the server itself; blocks cannot read it", name)
	}
	return env, nil
}

// secrets resolves ${secrets.X} in templates and remembers every value it
// resolved, so answers and errors can be redacted.
type secrets struct {
	lookup func(string) (string, bool)
	values map[string]bool
}

func newSecrets(lookup func(string) (string, bool)) *secrets {
	return &secrets{lookup: lookup, values: map[string]bool{}}
}

// expand replaces every ${secrets.NAME} in s.
func (sc *secrets) expand(s string) (string, error) {
	var firstErr error
	out := secretRef.ReplaceAllStringFunc(s, func(m string) string {
		if strings.HasPrefix(m, "$$") {
			return m[1:]
		}
		name := secretRef.FindStringSubmatch(m)[1]
		env, err := SecretEnv(name)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			return ""
		}
		v, ok := sc.lookup(env)
		if !ok {
			if firstErr == nil {
				firstErr = fmt.Errorf("secret %s is not set: set the environment variable %s where weft serve runs", name, env)
			}
			return ""
		}
		if v != "" {
			sc.values[v] = true
		}
		return v
	})
	return out, firstErr
}

// minRedact is the shortest secret value redacted; shorter values would
// blank out unrelated text.
const minRedact = 4

// Redacted replaces every secret value.
const Redacted = "[redacted]"

// redact removes every resolved secret from s, in every form it can take
// on the way out (encodings): as is, JSON-escaped (by Go, with and without
// HTML escaping, and ASCII-only as Python writes it), HTML-escaped and
// URL-encoded. A secret containing both " and < has a different text in
// each of them.
func (sc *secrets) redact(s string) string {
	for _, v := range sc.sorted() {
		for _, enc := range encodings(v) {
			s = strings.ReplaceAll(s, enc, Redacted)
		}
	}
	return s
}

// redactJSON removes every secret from a JSON document: from each string
// and key once decoded (so any escaping the sender chose is covered), then
// from the text. The answer is JSON; it is re-encoded only when a decoded
// string held a secret.
func (sc *secrets) redactJSON(doc []byte) []byte {
	if len(sc.sorted()) == 0 {
		return doc
	}
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err == nil {
		if red, changed := sc.redactValue(v); changed {
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			if err := enc.Encode(red); err == nil {
				doc = bytes.TrimRight(buf.Bytes(), "\n")
			}
		}
	}
	return []byte(sc.redact(string(doc)))
}

// redactValue redacts the strings and keys of a decoded JSON value;
// changed says whether any held a secret.
func (sc *secrets) redactValue(v any) (any, bool) {
	switch t := v.(type) {
	case string:
		r := sc.redact(t)
		return r, r != t
	case []any:
		changed := false
		for i, e := range t {
			r, c := sc.redactValue(e)
			t[i], changed = r, changed || c
		}
		return t, changed
	case map[string]any:
		out := make(map[string]any, len(t))
		changed := false
		for k, e := range t {
			rk := sc.redact(k)
			r, c := sc.redactValue(e)
			out[rk], changed = r, changed || c || rk != k
		}
		return out, changed
	}
	return v, false
}

// encodings lists the forms v can take in text that leaves Weft, longest
// first so that one form is not half replaced by a shorter one.
func encodings(v string) []string {
	seen := map[string]bool{}
	var out []string
	add := func(e string) {
		if e != "" && !seen[e] {
			seen[e] = true
			out = append(out, e)
		}
	}
	add(v)
	add(jsonInner(v, true))
	add(jsonInner(v, false))
	add(jsonASCII(v))
	add(strings.ReplaceAll(jsonInner(v, false), "/", `\/`))
	add(html.EscapeString(v)) // &#34; &#39; &lt; &gt; &amp; (also templ's)
	add(strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&#x27;").Replace(v))
	add(url.QueryEscape(v))
	add(url.PathEscape(v))
	add(urlComponent(v))
	sort.SliceStable(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

// jsonInner is v JSON-encoded without the quotes.
func jsonInner(v string, escapeHTML bool) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(escapeHTML)
	if err := enc.Encode(v); err != nil {
		return ""
	}
	b := bytes.TrimRight(buf.Bytes(), "\n")
	return string(b[1 : len(b)-1])
}

// jsonASCII is v JSON-encoded as Python's json.dumps writes it by
// default: every non-ASCII character as \uXXXX (lower-case hex,
// surrogate pairs above U+FFFF).
func jsonASCII(v string) string {
	var b strings.Builder
	for _, r := range jsonInner(v, false) {
		switch {
		case r < 0x80:
			b.WriteRune(r)
		case r > 0xFFFF:
			r1, r2 := utf16.EncodeRune(r)
			fmt.Fprintf(&b, "\\u%04x\\u%04x", r1, r2)
		default:
			fmt.Fprintf(&b, "\\u%04x", r)
		}
	}
	return b.String()
}

// urlComponent escapes v for any part of a URL after the host (path,
// query, fragment) or its user information: every byte but the
// unreserved ones (RFC 3986) is percent-encoded, a space as %20.
func urlComponent(v string) string {
	return strings.ReplaceAll(url.QueryEscape(v), "+", "%20")
}

// expandURL expands ${secrets.NAME} in a URL template. A secret that
// starts the URL is its base (WEFT_LLM_URL) and goes in as is, as does
// one in the host; a secret in the path, the query, the fragment or the
// user information (a password) is percent-encoded, so its characters
// cannot change where the request goes.
func (sc *secrets) expandURL(s string) (string, error) {
	var firstErr error
	var b strings.Builder
	last := 0
	for _, m := range secretRef.FindAllStringSubmatchIndex(s, -1) {
		b.WriteString(s[last:m[0]])
		last = m[1]
		whole := s[m[0]:m[1]]
		if strings.HasPrefix(whole, "$$") {
			b.WriteString(whole[1:])
			continue
		}
		v, err := sc.expand(whole)
		if err != nil && firstErr == nil {
			firstErr = err
		}
		if inComponent(b.String(), s[last:]) {
			b.WriteString(urlComponent(v))
		} else {
			b.WriteString(v)
		}
	}
	b.WriteString(s[last:])
	return b.String(), firstErr
}

// sorted lists the values longest first, so a secret containing another
// is removed whole.
func (sc *secrets) sorted() []string {
	var vs []string
	for v := range sc.values {
		if len(v) >= minRedact {
			vs = append(vs, v)
		}
	}
	sort.Slice(vs, func(i, j int) bool { return len(vs[i]) > len(vs[j]) })
	return vs
}

// inComponent reports whether text that follows before (the URL so far)
// and precedes after (the rest of the template) sits in the path, query,
// fragment or user information of the URL.
func inComponent(before, after string) bool {
	i := strings.Index(before, "://")
	if i < 0 {
		return false // the start of the URL: its base
	}
	rest := before[i+3:]
	if strings.ContainsAny(rest, "/?#") {
		return true
	}
	// still in the authority: user information if an @ follows before
	// the path starts
	end := strings.IndexAny(after, "/?#")
	if end < 0 {
		end = len(after)
	}
	return strings.Contains(after[:end], "@")
}
