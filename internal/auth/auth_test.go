package auth

import (
	"strings"
	"testing"
)

func TestAllows(t *testing.T) {
	t.Parallel()
	tests := []struct {
		have, need Role
		want       bool
	}{
		{Viewer, Viewer, true}, {Viewer, Operator, false}, {Viewer, Admin, false}, {Viewer, Worker, false},
		{Operator, Viewer, true}, {Operator, Operator, true}, {Operator, Admin, false}, {Operator, Worker, true},
		{Admin, Viewer, true}, {Admin, Operator, true}, {Admin, Admin, true}, {Admin, Worker, true},
		{Worker, Worker, true}, {Worker, Viewer, false}, {Worker, Operator, false},
		{Webhook, Webhook, true}, {Webhook, Viewer, false}, {Admin, Webhook, false},
		{"", Viewer, false}, {"root", Admin, false},
	}
	for _, tt := range tests {
		if got := Allows(tt.have, tt.need); got != tt.want {
			t.Errorf("Allows(%q, %q) = %v, want %v", tt.have, tt.need, got, tt.want)
		}
	}
}

func TestGenerateHashMatches(t *testing.T) {
	t.Parallel()
	a, idA, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	b, idB, _ := Generate()
	if a == b || idA == idB {
		t.Fatalf("two tokens are equal: %q %q", a, b)
	}
	if !strings.HasPrefix(a, Prefix) || len(a) < 40 {
		t.Fatalf("token %q: want prefix %q and at least 40 characters", a, Prefix)
	}
	h := Hash(a)
	if len(h) != 64 || strings.Contains(h, a) {
		t.Fatalf("hash %q: want 64 hex characters not containing the token", h)
	}
	if !Matches(a, h) || Matches(b, h) || Matches(a+"x", h) {
		t.Fatal("Matches accepts the wrong token or refuses the right one")
	}
}

func TestBearer(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"Bearer abc": "abc", "bearer abc": "abc", "  Bearer   abc  ": "abc", "Basic abc": "", "abc": "", "Bearer ": "",
	} {
		got, ok := Bearer(in)
		if got != want || ok != (want != "") {
			t.Errorf("Bearer(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}

func TestParseRole(t *testing.T) {
	t.Parallel()
	if r, err := ParseRole("operator"); err != nil || r != Operator {
		t.Fatalf("ParseRole(operator) = %q, %v", r, err)
	}
	if _, err := ParseRole("root"); err == nil || !strings.Contains(err.Error(), "viewer, operator, admin") {
		t.Fatalf("ParseRole(root) error = %v, want one listing the roles", err)
	}
}
