package dispatch

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
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

// redact removes every resolved secret from s.
func (sc *secrets) redact(s string) string {
	for _, v := range sc.sorted() {
		s = strings.ReplaceAll(s, v, Redacted)
		if q, err := json.Marshal(v); err == nil {
			if inner := string(q[1 : len(q)-1]); inner != v {
				s = strings.ReplaceAll(s, inner, Redacted)
			}
		}
	}
	return s
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
