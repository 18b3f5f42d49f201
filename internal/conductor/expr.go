package conductor

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

func itoa(i int) string { return strconv.Itoa(i) }

// templateRE finds Conductor's ${...} parameter expressions.
var templateRE = regexp.MustCompile(`\$\{([^{}]*)\}`)

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// exprKeywords cannot follow a dot in expr-lang; such keys are indexed.
var exprKeywords = map[string]bool{"in": true, "not": true, "and": true, "or": true, "matches": true,
	"contains": true, "startsWith": true, "endsWith": true, "let": true, "nil": true, "true": true, "false": true,
	"if": true, "else": true}

// member writes one key access in expr-lang.
func member(name string) string {
	if identRE.MatchString(name) && !exprKeywords[name] {
		return "." + name
	}
	b, _ := json.Marshal(name)
	return "[" + string(b) + "]"
}

// pathSegments splits a JSONPath-like tail (".a.b[0]['c-d']") into expr
// accessors.
func pathSegments(rest string) ([]string, error) {
	var out []string
	for i := 0; i < len(rest); {
		switch rest[i] {
		case '.':
			j := i + 1
			for j < len(rest) && rest[j] != '.' && rest[j] != '[' {
				j++
			}
			if j == i+1 {
				return nil, fmt.Errorf("empty name after '.'")
			}
			out = append(out, member(rest[i+1:j]))
			i = j
		case '[':
			j := strings.IndexByte(rest[i:], ']')
			if j < 0 {
				return nil, fmt.Errorf("unclosed '['")
			}
			inner := strings.TrimSpace(rest[i+1 : i+j])
			if n, err := strconv.Atoi(inner); err == nil {
				out = append(out, "["+strconv.Itoa(n)+"]")
			} else if len(inner) >= 2 && (inner[0] == '\'' || inner[0] == '"') && inner[len(inner)-1] == inner[0] {
				out = append(out, member(inner[1:len(inner)-1]))
			} else {
				return nil, fmt.Errorf("index [%s] is not a number or a quoted key", inner)
			}
			i += j + 1
		default:
			return nil, fmt.Errorf("unexpected %q", rest[i:])
		}
	}
	return out, nil
}

// refPath rewrites the inside of one Conductor ${...} into a Weft
// expression, or says why it cannot.
func (w *wfConv) refPath(inner string) (string, error) {
	inner = strings.TrimSpace(inner)
	end := strings.IndexAny(inner, ".[")
	root, rest := inner, ""
	if end >= 0 {
		root, rest = inner[:end], inner[end:]
	}
	segs, err := pathSegments(rest)
	if err != nil {
		return "", fmt.Errorf("cannot read %q: %v", "${"+inner+"}", err)
	}
	first := ""
	if len(segs) > 0 {
		first = strings.TrimPrefix(segs[0], ".")
	}
	if root == "workflow" {
		tail := ""
		if len(segs) > 1 {
			tail = strings.Join(segs[1:], "")
		}
		switch first {
		case "input":
			return "flow.input" + tail, nil
		case "workflowId":
			return "flow.run_id" + tail, nil
		case "workflowType":
			return "flow.name" + tail, nil
		case "version":
			return "flow.version" + tail, nil
		}
		return "", fmt.Errorf("${%s}: Weft has no workflow.%s; a flow's expressions see flow.input, flow.run_id, flow.name and flow.version", inner, first)
	}
	info, ok := w.refs[root]
	if !ok {
		return "", fmt.Errorf("${%s}: no task has taskReferenceName %q in this workflow", inner, root)
	}
	switch first {
	case "output", "input":
	default:
		if len(segs) == 0 {
			return "", fmt.Errorf("${%s}: name the task's output or input (${%s.output})", inner, root)
		}
		return "", fmt.Errorf("${%s}: Weft exposes a task's input and output, not %q", inner, first)
	}
	tail := segs[1:]
	// A task inside a SWITCH case or a DO_WHILE body read from after it:
	// Weft shows only the SWITCH's or loop's own output there, which is
	// the last task's output (a loop's last iteration's).
	for cur := root; ; {
		cont, ok := w.container[cur]
		if !ok || w.inside[cont] > 0 || (w.atOutput && w.refs[cont].weft != "" && !w.isLoop(cont)) {
			break
		}
		if first != "output" || !w.lastIn[cur] {
			return "", fmt.Errorf("${%s}: task %q runs inside %q; after it Weft shows only the output of the last task there, as ${%s.output}: read that, or move this task inside", inner, cur, cont, cont)
		}
		info, cur = w.refs[cont], cont
	}
	if first == "output" && len(tail) == 1 && tail[0] == ".iteration" && w.loops[root] {
		// Conductor counts the current iteration from 1; Weft's iteration
		// is the number done before this one.
		return "(iteration + 1)", nil
	}
	if first == "output" && info.http {
		// Conductor's HTTP task answers {response: {body, statusCode,
		// headers}}; Weft's http block's output is the body.
		if len(tail) >= 2 && tail[0] == ".response" && tail[1] == ".body" {
			tail = tail[2:]
		} else if len(tail) > 0 {
			return "", fmt.Errorf("${%s}: a Weft http block's output is the response body; only ${%s.output.response.body...} converts", inner, root)
		}
	}
	return info.weft + "." + first + strings.Join(tail, ""), nil
}

func (w *wfConv) isLoop(cref string) bool { return w.loopRefs[cref] }

// rewriteString rewrites every ${...} in s.
func (w *wfConv) rewriteString(s, ptr string) string {
	var firstErr error
	out := templateRE.ReplaceAllStringFunc(s, func(m string) string {
		e, err := w.refPath(m[2 : len(m)-1])
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			return m
		}
		return "${" + e + "}"
	})
	if firstErr != nil {
		w.problem(ptr, "%s", firstErr)
	}
	return out
}

// rewrite rewrites the templates inside any JSON value.
func (w *wfConv) rewrite(v any, ptr string) any {
	switch x := v.(type) {
	case string:
		return w.rewriteString(x, ptr)
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = w.rewrite(e, ptr+"/"+escape(k))
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = w.rewrite(e, ptr+"/"+itoa(i))
		}
		return out
	}
	return v
}

// asExpr turns one parameter value into a bare expression: a string that
// is exactly one ${...} becomes its path; a constant becomes a literal.
func (w *wfConv) asExpr(v any) (string, error) {
	if s, ok := v.(string); ok && strings.Contains(s, "${") {
		m := templateRE.FindStringSubmatchIndex(s)
		if m == nil || m[0] != 0 || m[1] != len(s) {
			return "", fmt.Errorf("%q mixes text and ${...}; use one ${...} or a constant", s)
		}
		e, err := w.refPath(s[m[2]:m[3]])
		if err != nil {
			return "", err
		}
		return "(" + e + ")", nil
	}
	return literal(v), nil
}

// literal writes a JSON value as an expr-lang literal.
func literal(v any) string {
	switch x := v.(type) {
	case nil:
		return "nil"
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			kb, _ := json.Marshal(k)
			parts[i] = string(kb) + ": " + literal(x[k])
		}
		return "{" + strings.Join(parts, ", ") + "}"
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = literal(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	b, _ := json.Marshal(v)
	return string(b)
}

var (
	fnWrapRE   = regexp.MustCompile(`(?s)^\s*function\s+([A-Za-z_$][\w$]*)\s*\(\s*\)\s*\{(.*)\}\s*;?\s*([A-Za-z_$][\w$]*)\s*\(\s*\)\s*;?\s*$`)
	iifeRE     = regexp.MustCompile(`(?s)^\s*\(\s*function\s*\(\s*\)\s*\{(.*)\}\s*\)\s*\(\s*\)\s*;?\s*$`)
	returnRE   = regexp.MustCompile(`(?s)^\s*return\s+(.*?)\s*;?\s*$`)
	ifBoolRE   = regexp.MustCompile(`(?s)^\s*if\s*\((.*)\)\s*\{\s*(?:return\s+)?true\s*;?\s*\}\s*else\s*\{\s*(?:return\s+)?false\s*;?\s*\}\s*;?\s*$`)
	ifReturnRE = regexp.MustCompile(`(?s)^\s*if\s*\((.*)\)\s*\{\s*return\s+([^;{}]*?)\s*;?\s*\}\s*(?:else\s*\{)?\s*return\s+([^;{}]*?)\s*;?\s*\}?\s*$`)
	dollarRE   = regexp.MustCompile(`\$(?:\.([A-Za-z_][A-Za-z0-9_]*)|\[\s*['"]([^'"]+)['"]\s*\])`)
	jsOnlyRE   = regexp.MustCompile(`\b(var|let|const|function|for|while|new|this|typeof|=>)\b|=>|\+\+|--|[^=!<>]=[^=]`)
)

// jsScope says what a JavaScript expression's $ may name.
type jsScope struct {
	params   map[string]any // the task's inputParameters
	own      string         // a DO_WHILE's own ref: $.own['iteration'] is the iteration count
	taskRefs bool           // $.ref names a task's output (DO_WHILE conditions)
}

// jsToExpr translates the small JavaScript expressions Conductor users
// write in SWITCH, DO_WHILE and INLINE into expr-lang: one expression, a
// function that returns one, or if/else returning true/false or two
// values. Anything else is an error saying why.
func (w *wfConv) jsToExpr(src string, sc jsScope) (string, error) {
	body := src
	if m := fnWrapRE.FindStringSubmatch(body); m != nil && m[1] == m[3] {
		body = m[2]
	} else if m := iifeRE.FindStringSubmatch(body); m != nil {
		body = m[1]
	}
	if m := ifBoolRE.FindStringSubmatch(body); m != nil {
		body = m[1]
	} else if c, a, b, ok := ifElseReturn(body); ok {
		body = "(" + c + ") ? (" + a + ") : (" + b + ")"
	} else if m := ifReturnRE.FindStringSubmatch(body); m != nil {
		body = "(" + m[1] + ") ? (" + m[2] + ") : (" + m[3] + ")"
	} else if m := returnRE.FindStringSubmatch(body); m != nil {
		body = m[1]
	}
	body = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(body), ";"))
	if strings.Contains(body, ";") || jsOnlyRE.MatchString(strings.ReplaceAll(strings.ReplaceAll(body, "===", "=="), "!==", "!=")) {
		return "", fmt.Errorf("the JavaScript %q is more than one expression; Weft evaluates expr-lang expressions (no statements, variables or functions): rewrite it as one expression, or move the logic into a worker", src)
	}
	body = strings.ReplaceAll(body, "===", "==")
	body = strings.ReplaceAll(body, "!==", "!=")
	if sc.own != "" {
		ownRE := regexp.MustCompile(`\$(?:\.` + regexp.QuoteMeta(sc.own) + `|\[\s*['"]` + regexp.QuoteMeta(sc.own) + `['"]\s*\])\s*(?:\[\s*['"]iteration['"]\s*\]|\.iteration)`)
		body = ownRE.ReplaceAllString(body, "iteration")
	}
	var bad error
	body = dollarRE.ReplaceAllStringFunc(body, func(m string) string {
		sub := dollarRE.FindStringSubmatch(m)
		name := sub[1] + sub[2]
		if v, ok := sc.params[name]; ok {
			e, err := w.asExpr(v)
			if err != nil && bad == nil {
				bad = fmt.Errorf("$.%s: %v", name, err)
			}
			return e
		}
		if info, ok := w.refs[name]; ok && sc.taskRefs {
			return "(" + info.weft + ".output)"
		}
		if bad == nil {
			bad = fmt.Errorf("$.%s is neither an input parameter of this task nor a task reference it can read", name)
		}
		return m
	})
	if bad != nil {
		return "", bad
	}
	if strings.Contains(body, "$") {
		return "", fmt.Errorf("the JavaScript %q reads $ in a way Weft cannot translate; name input parameters as $.name", src)
	}
	return body, nil
}

// ifElseReturn reads "if (C) { return A; } else { return B; }" (also
// with the else's block left out: "if (C) { return A; } return B;"),
// with braces and parentheses balanced inside C, A and B.
func ifElseReturn(src string) (cond, a, b string, ok bool) {
	s := strings.TrimSpace(src)
	if !strings.HasPrefix(s, "if") {
		return "", "", "", false
	}
	s = strings.TrimSpace(s[2:])
	cond, s, ok = balanced(s, '(', ')')
	if !ok {
		return "", "", "", false
	}
	var blk string
	if blk, s, ok = balanced(strings.TrimSpace(s), '{', '}'); !ok {
		return "", "", "", false
	}
	if a, ok = returned(blk); !ok {
		return "", "", "", false
	}
	s = strings.TrimSpace(s)
	if rest, found := strings.CutPrefix(s, "else"); found {
		if blk, s, ok = balanced(strings.TrimSpace(rest), '{', '}'); !ok || strings.Trim(strings.TrimSpace(s), ";") != "" {
			return "", "", "", false
		}
		b, ok = returned(blk)
		return cond, a, b, ok
	}
	b, ok = returned(s)
	return cond, a, b, ok
}

// balanced splits s, which must start with open, into what is inside the
// matching close and what follows it; quotes are skipped.
func balanced(s string, open, close byte) (inner, rest string, ok bool) {
	if s == "" || s[0] != open {
		return "", "", false
	}
	depth := 0
	var quote byte
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case quote != 0:
			if ch == '\\' {
				i++
			} else if ch == quote {
				quote = 0
			}
		case ch == '\'' || ch == '"':
			quote = ch
		case ch == open:
			depth++
		case ch == close:
			depth--
			if depth == 0 {
				return s[1:i], s[i+1:], true
			}
		}
	}
	return "", "", false
}

// returned reads "return X;" as X.
func returned(s string) (string, bool) {
	m := returnRE.FindStringSubmatch(s)
	if m == nil || strings.Contains(m[1], ";") {
		return "", false
	}
	return m[1], true
}

// escape escapes one JSON pointer segment.
func escape(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}
