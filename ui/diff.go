package ui

import (
	"bytes"
	"encoding/json"
	"strings"
)

// DiffLine is one line of a line diff: Op is ' ', '+' or '-'.
type DiffLine struct {
	Op   string
	Text string
	A, B int // 1-based line numbers in the old and new text; 0 when absent
}

// PrettyJSON indents raw JSON two spaces; invalid JSON comes back as-is.
func PrettyJSON(raw []byte) string {
	if len(bytes.TrimSpace(raw)) == 0 {
		return ""
	}
	var out bytes.Buffer
	if err := json.Indent(&out, raw, "", "  "); err != nil {
		return string(raw)
	}
	return out.String()
}

// maxDiffLines bounds the quadratic diff; longer texts are compared by
// their common prefix and suffix only.
const maxDiffLines = 3000

// Diff is a line diff of a and b (longest common subsequence).
func Diff(a, b string) []DiffLine {
	al, bl := splitLines(a), splitLines(b)
	// trim the common prefix and suffix first: flows change little
	p := 0
	for p < len(al) && p < len(bl) && al[p] == bl[p] {
		p++
	}
	s := 0
	for s < len(al)-p && s < len(bl)-p && al[len(al)-1-s] == bl[len(bl)-1-s] {
		s++
	}
	var out []DiffLine
	for i := 0; i < p; i++ {
		out = append(out, DiffLine{Op: " ", Text: al[i], A: i + 1, B: i + 1})
	}
	ma, mb := al[p:len(al)-s], bl[p:len(bl)-s]
	if len(ma)*len(mb) > maxDiffLines*maxDiffLines/4 {
		for i, t := range ma {
			out = append(out, DiffLine{Op: "-", Text: t, A: p + i + 1})
		}
		for i, t := range mb {
			out = append(out, DiffLine{Op: "+", Text: t, B: p + i + 1})
		}
	} else {
		n, m := len(ma), len(mb)
		lcs := make([][]int32, n+1)
		for i := range lcs {
			lcs[i] = make([]int32, m+1)
		}
		for i := n - 1; i >= 0; i-- {
			for j := m - 1; j >= 0; j-- {
				if ma[i] == mb[j] {
					lcs[i][j] = lcs[i+1][j+1] + 1
				} else {
					lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
				}
			}
		}
		i, j := 0, 0
		for i < n || j < m {
			switch {
			case i < n && j < m && ma[i] == mb[j]:
				out = append(out, DiffLine{Op: " ", Text: ma[i], A: p + i + 1, B: p + j + 1})
				i++
				j++
			case j < m && (i == n || lcs[i][j+1] >= lcs[i+1][j]):
				out = append(out, DiffLine{Op: "+", Text: mb[j], B: p + j + 1})
				j++
			default:
				out = append(out, DiffLine{Op: "-", Text: ma[i], A: p + i + 1})
				i++
			}
		}
	}
	for k := 0; k < s; k++ {
		out = append(out, DiffLine{Op: " ", Text: al[len(al)-s+k], A: len(al) - s + k + 1, B: len(bl) - s + k + 1})
	}
	return out
}

// DiffChanged counts added and removed lines.
func DiffChanged(d []DiffLine) (added, removed int) {
	for _, l := range d {
		switch l.Op {
		case "+":
			added++
		case "-":
			removed++
		}
	}
	return
}

// DiffContext keeps changed lines and ctx lines around them; runs of
// unchanged lines in between become one "…" marker line (Op "~").
func DiffContext(d []DiffLine, ctx int) []DiffLine {
	keep := make([]bool, len(d))
	for i, l := range d {
		if l.Op != " " {
			for k := max(i-ctx, 0); k <= min(i+ctx, len(d)-1); k++ {
				keep[k] = true
			}
		}
	}
	var out []DiffLine
	skipped := false
	for i, l := range d {
		if keep[i] {
			out = append(out, l)
			skipped = false
		} else if !skipped {
			out = append(out, DiffLine{Op: "~", Text: "…"})
			skipped = true
		}
	}
	return out
}

func splitLines(s string) []string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}
