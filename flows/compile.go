package flows

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/weftlabs/weft/blocks"
)

// ValidationError is one problem in a blueprint or block definition.
// Line and Col are 1-based and zero when the uploaded text is not known.
type ValidationError struct {
	Pointer string `json:"path"`
	Msg     string `json:"message"`
	Line    int    `json:"line,omitempty"`
	Col     int    `json:"column,omitempty"`
}

func (e *ValidationError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%d:%d %s: %s", e.Line, e.Col, e.Pointer, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.Pointer, e.Msg)
}

// Problems unpacks an error returned by Parse into its validation errors.
func Problems(err error) []*ValidationError {
	var out []*ValidationError
	var walk func(error)
	walk = func(err error) {
		if err == nil {
			return
		}
		var ve *ValidationError
		if errors.As(err, &ve) && ve == err {
			out = append(out, ve)
			return
		}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		if errors.As(err, &ve) {
			out = append(out, ve)
		}
	}
	walk(err)
	return out
}

// Parse parses, validates and compiles a blueprint against the block
// catalog. On failure the error joins every *ValidationError found.
func Parse(data []byte, cat blocks.Catalog) (*Blueprint, error) {
	var bp Blueprint
	if err := json.Unmarshal(data, &bp); err != nil {
		return nil, &ValidationError{Pointer: "", Msg: "not valid JSON: " + err.Error()}
	}
	bp.Raw = append([]byte(nil), data...)
	if err := compile(&bp, cat); err != nil {
		return nil, err
	}
	return &bp, nil
}

type compiler struct {
	cat  blocks.Catalog
	bp   *Blueprint
	errs []error
	refs []string
}

func (c *compiler) fail(ptr, format string, args ...any) {
	c.errs = append(c.errs, &ValidationError{Pointer: ptr, Msg: fmt.Sprintf(format, args...)})
}

func compile(bp *Blueprint, cat blocks.Catalog) error {
	c := &compiler{cat: cat, bp: bp}
	bp.Nodes = map[string]*Node{}
	c.collect(bp.Blocks, "/blocks", nil)
	c.collect(bp.OnFailure, "/on_failure", nil)
	scope := append([]string{"flow", "item", "index", "iteration"}, c.refs...)
	for _, n := range bp.Nodes {
		c.node(n, scope)
	}
	if bp.Output != nil {
		v, err := CompileValue(bp.Output, scope)
		if err != nil {
			c.fail("/output", "%s", err)
		}
		bp.OutputValue = v
	}
	return errors.Join(c.errs...)
}

func (c *compiler) collect(seq []*Node, ptr string, parent *Node) {
	for i, n := range seq {
		p := ptr + "/" + strconv.Itoa(i)
		if n == nil {
			c.fail(p, "block must be an object")
			continue
		}
		n.Pointer, n.Parent = p, parent
		if _, dup := c.bp.Nodes[n.Ref]; dup {
			c.fail(p+"/ref", "ref %q is used twice; every ref must be unique in the flow", n.Ref)
		} else {
			c.bp.Nodes[n.Ref] = n
			c.refs = append(c.refs, n.Ref)
		}
		c.collect(n.Catch, p+"/catch", n)
		c.collect(n.Do, p+"/do", n)
		c.collect(n.Default, p+"/default", n)
		for bi, b := range n.Branches {
			c.collect(b, p+"/branches/"+strconv.Itoa(bi), n)
		}
		for name, cs := range n.Cases {
			c.collect(cs, p+"/cases/"+escape(name), n)
		}
	}
}

func (c *compiler) node(n *Node, scope []string) {
	var err error
	switch n.Type {
	case TypeTask:
		n.Def = c.resolve(n.Block, n.Pointer+"/block")
		n.InputValue, err = CompileValue(anyMap(n.Input), scope)
		c.check(n.Pointer+"/input", err)
	case TypeDecision, TypeLambda:
		n.ExprProg, err = CompileExpr(n.Expr, scope)
		c.check(n.Pointer+"/expr", err)
	case TypeMap:
		n.ItemsProg, err = CompileExpr(n.Items, scope)
		c.check(n.Pointer+"/items", err)
	case TypeLoop:
		n.WhileProg, err = CompileExpr(n.While, scope)
		c.check(n.Pointer+"/while", err)
	case TypeWait:
		if n.Until != "" {
			n.UntilValue, err = CompileValue(n.Until, scope)
			c.check(n.Pointer+"/until", err)
		}
	case TypeSubflow:
		name, ver, perr := SplitNameVersion(n.Flow)
		if perr != nil {
			c.fail(n.Pointer+"/flow", "%s", perr)
		}
		n.FlowName, n.FlowVersion = name, ver
		n.InputValue, err = CompileValue(anyMap(n.Input), scope)
		c.check(n.Pointer+"/input", err)
	case TypeFail:
		n.MessageValue, err = CompileValue(n.Message, scope)
		c.check(n.Pointer+"/message", err)
	case TypeFork:
	default:
		c.fail(n.Pointer+"/type", "unknown block type %q", n.Type)
	}
	if n.Compensate != nil {
		n.Compensate.Def = c.resolve(n.Compensate.Block, n.Pointer+"/compensate/block")
		n.Compensate.InputValue, err = CompileValue(anyMap(n.Compensate.Input), scope)
		c.check(n.Pointer+"/compensate/input", err)
	}
}

func (c *compiler) check(ptr string, err error) {
	if err != nil {
		c.fail(ptr, "%s", err)
	}
}

func (c *compiler) resolve(ref, ptr string) *blocks.Definition {
	name, ver, err := SplitNameVersion(ref)
	if err != nil {
		c.fail(ptr, "%s", err)
		return nil
	}
	if c.cat == nil {
		c.fail(ptr, "unknown block %q: no block catalog", ref)
		return nil
	}
	d, err := c.cat.Block(name, ver)
	if err != nil || d == nil {
		c.fail(ptr, "unknown block %q: store its definition first", ref)
		return nil
	}
	return d
}

// SplitNameVersion splits "name@3" into ("name", 3); "name" gives version 0.
func SplitNameVersion(s string) (string, int, error) {
	name, v, ok := strings.Cut(s, "@")
	if name == "" {
		return "", 0, fmt.Errorf("name is empty")
	}
	if !ok {
		return name, 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return "", 0, fmt.Errorf("invalid version in %q: write name@N with N a positive integer", s)
	}
	return name, n, nil
}

func anyMap(m map[string]any) any {
	if m == nil {
		return map[string]any{}
	}
	return m
}

func escape(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}
