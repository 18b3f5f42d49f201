package flows

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/types"
	"github.com/expr-lang/expr/vm"
)

// MaxExprNodes bounds the size of one compiled expression.
const MaxExprNodes = 2000

// MaxExprBytes bounds what one evaluation may build: strings and lists
// made by +, repeat, join, concat, flatten, replace, toJSON, string and the
// final result. Ranges and the functions over lists are bounded by the
// expression language's own memory budget.
const MaxExprBytes = 16 << 20

// Names the sandbox adds; user expressions cannot name them.
const budgetName = "__budget"

// Expr is one compiled expression of the flow language (expr-lang).
type Expr struct {
	Source string
	prog   *vm.Program
	names  []string
}

// UnknownNameError is the compile error for a name that is not in scope.
type UnknownNameError struct {
	Source string
	Name   string
	Scope  []string
}

func (e *UnknownNameError) Error() string {
	return fmt.Sprintf("unknown name %q%s; in scope here: %s", e.Name, suggestName(e.Name, e.Scope), strings.Join(e.Scope, ", "))
}

var unknownNameRE = regexp.MustCompile(`^unknown name ([A-Za-z_$][A-Za-z0-9_$]*)`)

// CompileExpr compiles src with exactly the names in scope visible. A name
// outside scope is a compile error (*UnknownNameError).
func CompileExpr(src string, scope []string) (*Expr, error) {
	if strings.TrimSpace(src) == "" {
		return nil, fmt.Errorf("expression is empty")
	}
	if len(src) > 64<<10 {
		return nil, fmt.Errorf("expression is longer than 64 KiB")
	}
	env := make(types.Map, len(scope)+1)
	for _, n := range scope {
		env[n] = types.Any // shapes are checked at run time
	}
	env[budgetName] = types.Any
	sb := &sandbox{scope: make(map[string]bool, len(scope))}
	for _, n := range scope {
		sb.scope[n] = true
	}
	opts := []expr.Option{
		expr.Env(env),
		expr.MaxNodes(MaxExprNodes),
		expr.DisableBuiltin("now"),
		expr.DisableBuiltin("date"),
		expr.DisableBuiltin("timezone"),
		expr.Patch(sb),
	}
	opts = append(opts, guardedFunctions()...)
	prog, err := compileSafely(src, opts)
	if err == nil && sb.err != nil {
		err = sb.err
	}
	if err != nil {
		line := firstLine(err.Error())
		if m := unknownNameRE.FindStringSubmatch(line); m != nil && m[1] != budgetName {
			return nil, &UnknownNameError{Source: src, Name: m[1], Scope: append([]string(nil), scope...)}
		}
		return nil, exprError(src, err)
	}
	inScope := make(map[string]bool, len(scope))
	for _, n := range scope {
		inScope[n] = true
	}
	var names []string
	for _, n := range identifiers(prog.Node()) {
		if inScope[n] {
			names = append(names, n)
		}
	}
	return &Expr{Source: src, prog: prog, names: names}, nil
}

// compileSafely turns a panic of the expression compiler on hostile input
// into an error.
func compileSafely(src string, opts []expr.Option) (p *vm.Program, err error) {
	defer func() {
		if r := recover(); r != nil {
			p, err = nil, fmt.Errorf("%v", r)
		}
	}()
	return expr.Compile(src, opts...)
}

// Eval runs the expression against env (name -> value). Reading a member
// of null gives null; evaluation fails when it would build more than
// MaxExprBytes.
func (e *Expr) Eval(env map[string]any) (v any, err error) {
	run := make(map[string]any, len(env)+1)
	for k, x := range env {
		run[k] = x
	}
	b := &budget{}
	run[budgetName] = b
	defer func() {
		if r := recover(); r != nil {
			v, err = nil, fmt.Errorf("evaluate %q: %v", e.Source, r)
		}
	}()
	v, err = expr.Run(e.prog, run)
	if err != nil {
		return nil, fmt.Errorf("evaluate %q: %s", e.Source, firstLine(err.Error()))
	}
	if sizeOf(v, MaxExprBytes) > MaxExprBytes {
		return nil, fmt.Errorf("evaluate %q: %s", e.Source, errTooBig)
	}
	return v, nil
}

// Names lists the names in scope the expression reads, sorted.
func (e *Expr) Names() []string { return e.names }

func identifiers(n ast.Node) []string {
	seen := map[string]bool{}
	ast.Find(n, func(n ast.Node) bool {
		if id, ok := n.(*ast.IdentifierNode); ok {
			seen[id.Value] = true
		}
		return false
	})
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func exprError(src string, err error) error {
	return fmt.Errorf("expression %q does not compile: %s", src, firstLine(err.Error()))
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// Value is a JSON value whose strings may hold ${...} templates, compiled.
// A string that is exactly one ${...} keeps the expression's type; any other
// string interpolates; "$${" is a literal "${".
type Value struct {
	lit    any               // constant (no template anywhere below)
	single *Expr             // the whole string is one ${...}
	parts  []part            // interpolated string
	list   []*Value          // array with templates inside
	fields map[string]*Value // object with templates inside
	kind   valueKind
}

type valueKind int

const (
	kindLit valueKind = iota
	kindSingle
	kindInterp
	kindList
	kindObject
)

type part struct {
	text string
	expr *Expr
}

// CompileValue compiles every template inside v against scope. It returns
// the first problem; the flow compiler reports all of them.
func CompileValue(v any, scope []string) (*Value, error) {
	var first error
	out := compileValueAll(v, scope, "", func(_ string, err error) {
		if first == nil {
			first = err
		}
	})
	if first != nil {
		return nil, first
	}
	return out, nil
}

// compileValueAll compiles v, reporting every problem with the JSON pointer
// (below ptr) of the string that holds it.
func compileValueAll(v any, scope []string, ptr string, report func(ptr string, err error)) *Value {
	switch t := v.(type) {
	case string:
		c, err := compileString(t, scope)
		if err != nil {
			report(ptr, err)
			return &Value{lit: t}
		}
		return c
	case []any:
		out := &Value{kind: kindList, list: make([]*Value, len(t))}
		constant := true
		for i, e := range t {
			c := compileValueAll(e, scope, ptr+"/"+strconv.Itoa(i), report)
			out.list[i] = c
			constant = constant && c.kind == kindLit
		}
		if constant {
			return &Value{lit: v}
		}
		return out
	case map[string]any:
		out := &Value{kind: kindObject, fields: make(map[string]*Value, len(t))}
		constant := true
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			c := compileValueAll(t[k], scope, ptr+"/"+escape(k), report)
			out.fields[k] = c
			constant = constant && c.kind == kindLit
		}
		if constant {
			return &Value{lit: v}
		}
		return out
	default:
		return &Value{lit: v}
	}
}

// SplitTemplate splits s into literal text and ${...} expression sources.
// exprs[i] == true marks pieces[i] as an expression.
func SplitTemplate(s string) (pieces []string, exprs []bool, err error) {
	var lit strings.Builder
	for i := 0; i < len(s); {
		if strings.HasPrefix(s[i:], "$${") {
			lit.WriteString("${")
			i += 3
			continue
		}
		if strings.HasPrefix(s[i:], "${") {
			end, err := closing(s, i+2)
			if err != nil {
				return nil, nil, err
			}
			if lit.Len() > 0 {
				pieces, exprs = append(pieces, lit.String()), append(exprs, false)
				lit.Reset()
			}
			src := strings.TrimSpace(s[i+2 : end])
			if src == "" {
				return nil, nil, fmt.Errorf("empty ${} in %q: put an expression inside, such as ${flow.input.x}", s)
			}
			pieces, exprs = append(pieces, src), append(exprs, true)
			i = end + 1
			continue
		}
		lit.WriteByte(s[i])
		i++
	}
	if lit.Len() > 0 {
		pieces, exprs = append(pieces, lit.String()), append(exprs, false)
	}
	return pieces, exprs, nil
}

// closing finds the '}' that ends a ${ opened before start, skipping nested
// braces and quoted strings.
func closing(s string, start int) (int, error) {
	depth := 0
	var quote byte
	for i := start; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == '\\' {
				i++
			} else if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'' || c == '`':
			quote = c
		case c == '{':
			depth++
		case c == '}':
			if depth == 0 {
				return i, nil
			}
			depth--
		}
	}
	return 0, fmt.Errorf("unclosed ${ in %q: add the closing }", s)
}

func compileString(s string, scope []string) (*Value, error) {
	if !strings.Contains(s, "${") {
		return &Value{lit: s}, nil
	}
	pieces, exprs, err := SplitTemplate(s)
	if err != nil {
		return nil, err
	}
	if len(pieces) == 1 && exprs[0] && strings.HasPrefix(strings.TrimSpace(s), "${") && strings.HasSuffix(strings.TrimSpace(s), "}") && strings.TrimSpace(s) == s {
		e, err := CompileExpr(pieces[0], scope)
		if err != nil {
			return nil, err
		}
		return &Value{kind: kindSingle, single: e}, nil
	}
	v := &Value{kind: kindInterp}
	constant := true
	for i, p := range pieces {
		if !exprs[i] {
			v.parts = append(v.parts, part{text: p})
			continue
		}
		constant = false
		e, err := CompileExpr(p, scope)
		if err != nil {
			return nil, err
		}
		v.parts = append(v.parts, part{expr: e})
	}
	if constant {
		// Only literals, e.g. "$${x}" -> "${x}".
		var b strings.Builder
		for _, p := range v.parts {
			b.WriteString(p.text)
		}
		return &Value{lit: b.String()}, nil
	}
	return v, nil
}

// IsConst reports whether the value holds no template.
func (v *Value) IsConst() bool { return v == nil || v.kind == kindLit }

// Eval computes the value against env.
func (v *Value) Eval(env map[string]any) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch v.kind {
	case kindLit:
		return v.lit, nil
	case kindSingle:
		return v.single.Eval(env)
	case kindInterp:
		var b strings.Builder
		for _, p := range v.parts {
			if p.expr == nil {
				b.WriteString(p.text)
				continue
			}
			r, err := p.expr.Eval(env)
			if err != nil {
				return nil, err
			}
			b.WriteString(Stringify(r))
		}
		return b.String(), nil
	case kindList:
		out := make([]any, len(v.list))
		for i, e := range v.list {
			r, err := e.Eval(env)
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return out, nil
	default:
		out := make(map[string]any, len(v.fields))
		for k, e := range v.fields {
			r, err := e.Eval(env)
			if err != nil {
				return nil, err
			}
			out[k] = r
		}
		return out, nil
	}
}

// Names lists the top-level names the value's templates read, sorted.
func (v *Value) Names() []string {
	seen := map[string]bool{}
	v.walk(func(e *Expr) {
		for _, n := range e.names {
			seen[n] = true
		}
	})
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (v *Value) walk(fn func(*Expr)) {
	if v == nil {
		return
	}
	switch v.kind {
	case kindSingle:
		fn(v.single)
	case kindInterp:
		for _, p := range v.parts {
			if p.expr != nil {
				fn(p.expr)
			}
		}
	case kindList:
		for _, e := range v.list {
			e.walk(fn)
		}
	case kindObject:
		for _, e := range v.fields {
			e.walk(fn)
		}
	}
}

// Stringify renders an expression result inside an interpolated string:
// strings as-is, nil as "null", numbers without exponent noise, the rest as
// JSON.
func Stringify(v any) string {
	switch t := v.(type) {
	case nil:
		return "null"
	case string:
		return t
	case float64:
		if t == float64(int64(t)) && t < 1e15 && t > -1e15 {
			return fmt.Sprintf("%d", int64(t))
		}
		return fmt.Sprintf("%g", t)
	case bool, int, int64:
		return fmt.Sprint(t)
	default:
		b, err := jsonMarshal(t)
		if err != nil {
			return fmt.Sprint(t)
		}
		return string(b)
	}
}
