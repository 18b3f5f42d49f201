package ui

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/aymanbagabas/go-udiff"
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

// Diff is a line diff of a and b (Myers' algorithm, as in the Go tools'
// own diff): unchanged lines, and each change as its removed lines before
// its added ones. Line endings (CRLF from a browser's text area, a final
// newline or not) are not changes.
func Diff(a, b string) []DiffLine {
	a, b = normalizeText(a), normalizeText(b)
	// Context as long as the text: one hunk holding every line.
	u, err := udiff.ToUnifiedDiff("a", "b", a, udiff.Lines(a, b), strings.Count(a, "\n")+1)
	if err != nil {
		// Edits computed from a itself always apply; keep a safe answer.
		u = udiff.UnifiedDiff{}
	}
	al := splitLines(a)
	var out []DiffLine
	i, j := 0, 0 // lines of a and b passed
	equalTo := func(n int) {
		for i < n {
			out = append(out, DiffLine{Op: " ", Text: al[i], A: i + 1, B: j + 1})
			i++
			j++
		}
	}
	for _, h := range u.Hunks {
		equalTo(h.FromLine - 1)
		for _, l := range h.Lines {
			text := strings.TrimSuffix(l.Content, "\n")
			switch l.Kind {
			case udiff.Delete:
				out = append(out, DiffLine{Op: "-", Text: text, A: i + 1})
				i++
			case udiff.Insert:
				out = append(out, DiffLine{Op: "+", Text: text, B: j + 1})
				j++
			default:
				out = append(out, DiffLine{Op: " ", Text: text, A: i + 1, B: j + 1})
				i++
				j++
			}
		}
	}
	equalTo(len(al))
	return out
}

// normalizeText makes line endings LF and ends the text with one newline.
func normalizeText(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.TrimRight(s, "\n\r \t")
	if s == "" {
		return ""
	}
	return s + "\n"
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
