package flows

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/builtin"
	"github.com/expr-lang/expr/vm/runtime"

	"github.com/weftlabs/weft/blocks/jsoncheck"
)

var errTooBig = errors.New("the expression builds a value larger than 16 MiB; work on smaller values")

// budget counts the bytes one evaluation builds through guarded
// operations.
type budget struct{ used int }

func (b *budget) charge(n int) error {
	if b == nil {
		return nil
	}
	if n < 0 || n > MaxExprBytes {
		return errTooBig
	}
	b.used += n
	if b.used > MaxExprBytes {
		return errTooBig
	}
	return nil
}

// sandbox patches a parsed expression: member access becomes nil-safe
// (a?.b), and + and the functions that can build large values are routed
// through guards that charge the evaluation's budget.
type sandbox struct {
	err   error
	scope map[string]bool // the names in scope (refs hide functions of the same name)
}

// guarded are the builtins replaced by budget-checking versions.
var guarded = []string{"repeat", "join", "toJSON", "concat", "flatten", "replace", "string", "toBase64"}

func (s *sandbox) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.IdentifierNode:
		if strings.HasPrefix(n.Value, "__") && s.err == nil {
			s.err = fmt.Errorf("names starting with __ are reserved")
		}
	case *ast.MemberNode:
		if !n.Method {
			n.Optional = true
			ast.Patch(node, &ast.ChainNode{Node: n})
		}
	case *ast.BinaryNode:
		if n.Operator == "+" {
			ast.Patch(node, &ast.CallNode{
				Callee:    &ast.IdentifierNode{Value: "__add"},
				Arguments: []ast.Node{n.Left, n.Right, &ast.IdentifierNode{Value: budgetName}},
			})
		}
	case *ast.CallNode:
		if id, ok := n.Callee.(*ast.IdentifierNode); ok {
			if s.scope[id.Value] && s.err == nil {
				s.err = fmt.Errorf("%q is a name in scope here (a ref or a name the engine sets), which hides the function %s(); "+
					"the function cannot be called where that name is in scope: rename the ref to call it", id.Value, id.Value)
				return
			}
			for _, g := range guarded {
				if id.Value == g {
					n.Arguments = append(n.Arguments, &ast.IdentifierNode{Value: budgetName})
					return
				}
			}
		}
	}
}

func guardedFunctions() []expr.Option {
	opts := []expr.Option{expr.Function("__add", guardAdd)}
	for _, name := range guarded {
		orig := builtin.Builtins[builtin.Index[name]]
		opts = append(opts, expr.Function(name, guardBuiltin(name, orig)))
	}
	return opts
}

func takeBudget(args []any) ([]any, *budget) {
	if len(args) == 0 {
		return args, nil
	}
	b, ok := args[len(args)-1].(*budget)
	if !ok {
		return args, nil
	}
	return args[:len(args)-1], b
}

func guardAdd(params ...any) (any, error) {
	args, b := takeBudget(params)
	if len(args) != 2 {
		return nil, fmt.Errorf("+ needs two operands")
	}
	switch x := args[0].(type) {
	case string:
		if y, ok := args[1].(string); ok {
			if err := b.charge(len(x) + len(y)); err != nil {
				return nil, err
			}
			return x + y, nil
		}
	case []any:
		if y, ok := args[1].([]any); ok {
			if err := b.charge(8 * (len(x) + len(y))); err != nil {
				return nil, err
			}
			out := make([]any, 0, len(x)+len(y))
			return append(append(out, x...), y...), nil
		}
	}
	if isNil(args[0]) || isNil(args[1]) {
		return nil, fmt.Errorf("cannot add %s and %s", typeName(args[0]), typeName(args[1]))
	}
	return runtime.Add(args[0], args[1]), nil
}

func guardBuiltin(name string, orig *builtin.Function) func(params ...any) (any, error) {
	return func(params ...any) (any, error) {
		args, b := takeBudget(params)
		var need int
		switch name {
		case "repeat":
			if len(args) == 2 {
				s, _ := args[0].(string)
				n := runtime.ToInt(args[1])
				if n > 0 && len(s) > 0 && n > MaxExprBytes/len(s) {
					return nil, errTooBig
				}
				need = len(s) * max(n, 0)
			}
		case "replace":
			if len(args) == 3 {
				s, _ := args[0].(string)
				old, _ := args[1].(string)
				nw, _ := args[2].(string)
				count := len(s) + 1
				if old != "" {
					count = strings.Count(s, old)
				}
				need = len(s) + count*len(nw)
			}
		default:
			for _, a := range args {
				need += sizeOf(a, MaxExprBytes+1)
			}
			if name == "toJSON" || name == "string" {
				need *= 2
			}
		}
		if err := b.charge(need); err != nil {
			return nil, err
		}
		switch {
		case orig.Func != nil:
			return orig.Func(args...)
		case orig.Safe != nil:
			v, _, err := orig.Safe(args...)
			return v, err
		case orig.Fast != nil && len(args) == 1:
			return orig.Fast(args[0]), nil
		}
		return nil, fmt.Errorf("%s: unsupported call", name)
	}
}

func isNil(v any) bool { return v == nil }

func typeName(v any) string {
	if v == nil {
		return "null"
	}
	return reflect.TypeOf(v).String()
}

// sizeOf estimates the encoded size of v in bytes, stopping once it
// exceeds limit (so it is cheap even for values that share structure).
func sizeOf(v any, limit int) int {
	n := 0
	var walk func(v any, depth int)
	walk = func(v any, depth int) {
		if n > limit {
			return
		}
		if depth > 10000 {
			n = limit + 1
			return
		}
		switch t := v.(type) {
		case nil, bool:
			n += 5
		case string:
			n += len(t) + 2
		case []any:
			n += 2
			for _, e := range t {
				walk(e, depth+1)
				n++
				if n > limit {
					return
				}
			}
		case map[string]any:
			n += 2
			for k, e := range t {
				n += len(k) + 4
				walk(e, depth+1)
				if n > limit {
					return
				}
			}
		case []string:
			for _, e := range t {
				n += len(e) + 3
			}
		default:
			rv := reflect.ValueOf(v)
			switch rv.Kind() {
			case reflect.Slice, reflect.Array:
				n += 2
				for i := 0; i < rv.Len() && n <= limit; i++ {
					walk(rv.Index(i).Interface(), depth+1)
					n++
				}
			case reflect.Map:
				n += 2
				it := rv.MapRange()
				for it.Next() && n <= limit {
					n += 4
					walk(it.Key().Interface(), depth+1)
					walk(it.Value().Interface(), depth+1)
				}
			default:
				n += 8
			}
		}
	}
	walk(v, 0)
	return n
}

func suggestName(name string, scope []string) string {
	s := jsoncheck.Suggest(name, scope)
	if strings.HasPrefix(s, " (did you mean") {
		return s
	}
	return ""
}
