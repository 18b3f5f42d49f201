// Package auth holds Weft's API token model: roles, token generation and the
// hashed form tokens are stored in. Tokens are random strings shown once at
// creation; only their SHA-256 is stored.
package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// Role is what a token may do.
type Role string

// Roles. Viewer < Operator < Admin form a hierarchy; Worker and Webhook are
// narrow roles outside it.
const (
	// Viewer may read: every GET of the API and the UI.
	Viewer Role = "viewer"
	// Operator may also start runs, act on runs (cancel, pause, resume,
	// retry, rerun), send signals and report tasks.
	Operator Role = "operator"
	// Admin may also upload block and flow definitions and manage tokens.
	Admin Role = "admin"
	// Worker may only poll, heartbeat and report tasks.
	Worker Role = "worker"
	// Webhook may only start runs of one flow through /api/v1/hooks/{flow}.
	Webhook Role = "webhook"
)

// Roles lists every role, for help texts and validation.
var Roles = []Role{Viewer, Operator, Admin, Worker, Webhook}

// ParseRole checks a role name.
func ParseRole(s string) (Role, error) {
	for _, r := range Roles {
		if string(r) == s {
			return r, nil
		}
	}
	return "", fmt.Errorf("unknown role %q: use one of viewer, operator, admin, worker, webhook", s)
}

func rank(r Role) int {
	switch r {
	case Viewer:
		return 1
	case Operator:
		return 2
	case Admin:
		return 3
	}
	return 0
}

// Allows reports whether a token of role have may do what needs requires.
// Viewer, Operator and Admin are ordered; Worker satisfies only Worker;
// Webhook satisfies only Webhook. Operator and Admin also satisfy Worker.
func Allows(have, need Role) bool {
	switch need {
	case Worker:
		return have == Worker || rank(have) >= rank(Operator)
	case Webhook:
		return have == Webhook
	}
	return rank(need) > 0 && rank(have) >= rank(need)
}

// Token is one stored API token; the secret itself is never stored.
type Token struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Role      Role      `json:"role"`
	Flow      string    `json:"flow,omitempty"` // webhook tokens: the flow they may start
	Hash      string    `json:"-"`              // hex SHA-256 of the secret
	CreatedAt time.Time `json:"created_at"`
}

// Prefix starts every token, so a leaked one is easy to recognise.
const Prefix = "weft_"

// Generate returns a new random token secret and its ID. The ID is not
// secret: it names the token in lists and events.
func Generate() (secret, id string, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", "", fmt.Errorf("generate token: %w", err)
	}
	ib := make([]byte, 8)
	if _, err := rand.Read(ib); err != nil {
		return "", "", fmt.Errorf("generate token id: %w", err)
	}
	return Prefix + base64.RawURLEncoding.EncodeToString(b), hex.EncodeToString(ib), nil
}

// Hash is the stored form of a token secret: hex SHA-256.
func Hash(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// Matches compares a secret against a stored hash in constant time.
func Matches(secret, hash string) bool {
	h := Hash(secret)
	return subtle.ConstantTimeCompare([]byte(h), []byte(hash)) == 1
}

// Bearer extracts the token from an Authorization header value
// ("Bearer <token>"); ok is false when the header has another form.
func Bearer(header string) (token string, ok bool) {
	scheme, tok, found := strings.Cut(strings.TrimSpace(header), " ")
	if !found || !strings.EqualFold(scheme, "bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}
