package flows

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/weftlabs/weft/blocks/jsoncheck"
)

// IsDAG says whether a list of blocks is in DAG form: some block of it
// has depends_on.
func IsDAG(list []*Node) bool {
	for _, n := range list {
		if n != nil && n.DependsOn != nil {
			return true
		}
	}
	return false
}

// listPointer is the JSON pointer of the list holding n.
func listPointer(n *Node) string {
	if i := strings.LastIndexByte(n.Pointer, '/'); i >= 0 {
		return n.Pointer[:i]
	}
	return n.Pointer
}

// dag compiles a list in DAG form whose blocks see scope (and the refs
// they depend on), and returns the scope after the list: scope and every
// ref of the list, as after a sequence.
func (c *compiler) dag(list []*Node, scope []string) []string {
	g := &DAG{}
	byRef := map[string]*Node{}
	var refs []string
	for _, n := range list {
		if n == nil {
			continue
		}
		if g.Pointer == "" {
			g.Pointer = listPointer(n)
		}
		g.Nodes = append(g.Nodes, n)
		n.DAG = g
		if n.Ref != "" {
			byRef[n.Ref] = n
			refs = append(refs, n.Ref)
		}
	}
	// Dependencies: each names a block of this list, once, not itself.
	down := map[*Node][]*Node{}
	for _, n := range g.Nodes {
		n.Upstream = nil
		for i, dep := range n.DependsOn {
			p := n.Pointer + "/depends_on/" + strconv.Itoa(i)
			if c.bad[p] || c.bad[n.Pointer+"/depends_on"] {
				continue
			}
			u := byRef[dep]
			switch {
			case dep == n.Ref:
				c.fail(p, "%q depends on itself; name the blocks of this list it waits for", dep)
			case u != nil:
				n.Upstream = append(n.Upstream, u)
				down[u] = append(down[u], n)
			case c.bp.Nodes[dep] != nil:
				c.fail(p, "depends_on names %q (%s), which is not in this list; a block depends only on blocks of its own list (those of %s: %s)",
					dep, c.bp.Nodes[dep].Pointer, g.Pointer, strings.Join(refs, ", "))
			default:
				hint := jsoncheck.Suggest(dep, refs)
				if !strings.HasPrefix(hint, " (did you mean") {
					hint = ""
				}
				c.fail(p, "unknown ref %q in depends_on%s; the blocks of this list (%s) are: %s",
					dep, hint, g.Pointer, strings.Join(refs, ", "))
			}
		}
	}
	// A topological order, ties broken by document order (Kahn).
	indeg := make(map[*Node]int, len(g.Nodes))
	for _, n := range g.Nodes {
		indeg[n] = len(n.Upstream)
	}
	queue := make([]*Node, 0, len(g.Nodes))
	for _, n := range g.Nodes {
		if indeg[n] == 0 {
			queue = append(queue, n)
		}
	}
	for i := 0; i < len(queue); i++ {
		for _, d := range down[queue[i]] {
			if indeg[d]--; indeg[d] == 0 {
				queue = append(queue, d)
			}
		}
	}
	g.Order = queue
	if len(g.Order) < len(g.Nodes) {
		c.cycles(g, down, indeg)
	}
	for _, n := range g.Nodes {
		if len(down[n]) == 0 {
			g.Sinks = append(g.Sinks, n)
		}
	}

	// Each block sees scope and what it depends on, directly or not:
	// the ancestors of each node are a bitset over the list.
	idx := make(map[*Node]int, len(g.Nodes))
	for i, n := range g.Nodes {
		idx[n] = i
	}
	forkOwner := map[string]*Node{} // refs directly inside the list's forks
	for _, n := range g.Nodes {
		for _, r := range forkRefs(n) {
			forkOwner[r] = n
		}
	}
	words := (len(g.Nodes) + 63) / 64
	anc := make(map[*Node][]uint64, len(g.Order))
	// visible lists the refs of the list that node n depends on and that
	// its expressions may name (a word of its text): building every
	// block's whole scope would cost time quadratic in the list.
	visible := func(n *Node, bits []uint64) []string {
		var names []string
		seen := map[string]bool{}
		nodeWords(n, func(w string) {
			u := byRef[w]
			if u == nil {
				u = forkOwner[w]
			}
			if u == nil || seen[w] {
				return
			}
			if i := idx[u]; bits[i/64]&(1<<(i%64)) != 0 {
				seen[w] = true
				names = append(names, w)
			}
		})
		return names
	}
	for _, n := range g.Order {
		bits := make([]uint64, words)
		for _, u := range n.Upstream {
			for w, x := range anc[u] {
				bits[w] |= x
			}
			bits[idx[u]/64] |= 1 << (idx[u] % 64)
		}
		anc[n] = bits
		own := scope
		if len(n.Upstream) > 0 {
			// Refs are unique in the flow: the list's refs are not in
			// scope already, so appending keeps the names distinct.
			own = append(scope[:len(scope):len(scope)], visible(n, bits)...)
		}
		c.inDAG = append(c.inDAG, n)
		c.node(n, own)
		c.inDAG = c.inDAG[:len(c.inDAG)-1]
	}
	// Blocks on a cycle are checked too (with their direct dependencies),
	// so that every problem is reported at once.
	for _, n := range g.Nodes {
		if _, ok := anc[n]; ok {
			continue
		}
		var names []string
		for _, u := range n.Upstream {
			names = append(names, u.Ref)
		}
		c.inDAG = append(c.inDAG, n)
		c.node(n, extend(scope, names))
		c.inDAG = c.inDAG[:len(c.inDAG)-1]
	}
	var all []string
	for _, n := range g.Nodes {
		all = append(all, n.Ref)
		all = append(all, forkRefs(n)...)
	}
	return extend(scope, all)
}

// cycles reports each cycle among the nodes Kahn's walk left, once, in
// the order the blocks run: /blocks: cycle ingest → validate → ingest.
func (c *compiler) cycles(g *DAG, down map[*Node][]*Node, indeg map[*Node]int) {
	const (
		white = iota
		grey
		black
	)
	color := map[*Node]int{}
	var stack []*Node
	var visit func(n *Node) bool
	visit = func(n *Node) bool {
		color[n] = grey
		stack = append(stack, n)
		for _, d := range down[n] {
			if indeg[d] == 0 {
				continue // not on a cycle
			}
			switch color[d] {
			case grey:
				var names []string
				start := 0
				for i, s := range stack {
					if s == d {
						start = i
					}
				}
				for _, s := range stack[start:] {
					names = append(names, s.Ref)
				}
				names = append(names, d.Ref)
				c.fail(g.Pointer, "cycle %s: blocks that wait for each other never start; remove one of these dependencies", strings.Join(names, " → "))
				return true
			case white:
				if visit(d) {
					return true
				}
			}
		}
		stack = stack[:len(stack)-1]
		color[n] = black
		return false
	}
	for _, n := range g.Nodes {
		if indeg[n] > 0 && color[n] == white {
			stack = stack[:0]
			if visit(n) {
				// Mark the rest of this tangle as seen, so each cycle is
				// reported once.
				for _, s := range stack {
					color[s] = black
				}
				markReach(n, down, indeg, color, black)
			}
		}
	}
}

func markReach(n *Node, down map[*Node][]*Node, indeg map[*Node]int, color map[*Node]int, mark int) {
	todo := []*Node{n}
	for len(todo) > 0 {
		x := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		for _, d := range down[x] {
			if indeg[d] > 0 && color[d] != mark {
				color[d] = mark
				todo = append(todo, d)
			}
		}
	}
}

// forkRefs are the refs directly inside a fork's branches: visible after
// the fork, as in a sequence.
func forkRefs(n *Node) []string {
	if n.Type != TypeFork {
		return nil
	}
	var out []string
	for _, b := range n.Branches {
		for _, bn := range b {
			if bn != nil {
				out = append(out, bn.Ref)
			}
		}
	}
	return out
}

// extend is with for many names: scope plus names, without duplicates,
// in time linear in their sizes.
func extend(scope []string, names []string) []string {
	set := make(map[string]bool, len(scope)+len(names))
	out := make([]string, 0, len(scope)+len(names))
	for _, s := range scope {
		set[s] = true
		out = append(out, s)
	}
	for _, n := range names {
		if n != "" && !set[n] {
			set[n] = true
			out = append(out, n)
		}
	}
	return out
}

// notDependedOn explains a ref of the same DAG list that the block being
// compiled does not depend on ("" when name is not such a ref).
func (c *compiler) notDependedOn(name string) string {
	target := c.bp.Nodes[name]
	if target == nil || target.DAG == nil {
		return ""
	}
	for i := len(c.inDAG) - 1; i >= 0; i-- {
		n := c.inDAG[i]
		if n.DAG == target.DAG {
			if n == target {
				return ""
			}
			return fmt.Sprintf("ref %q (%s) is in the same DAG as %q, which does not depend on it: a block of a DAG sees only the blocks it depends on, directly or through others; add %q to the depends_on of %q",
				name, target.Pointer, n.Ref, name, n.Ref)
		}
	}
	return ""
}

// nodeWords calls fn with every word (a name an expression could use) of
// n's expressions and templates, its nested blocks' included.
func nodeWords(n *Node, fn func(string)) {
	if n == nil {
		return
	}
	text := func(s string) {
		start := -1
		for i := 0; i <= len(s); i++ {
			word := i < len(s) && (s[i] == '_' || s[i] >= 'a' && s[i] <= 'z' || s[i] >= 'A' && s[i] <= 'Z' || start >= 0 && s[i] >= '0' && s[i] <= '9')
			switch {
			case word && start < 0:
				start = i
			case !word && start >= 0:
				fn(s[start:i])
				start = -1
			}
		}
	}
	var value func(v any)
	value = func(v any) {
		switch t := v.(type) {
		case string:
			text(t)
		case []any:
			for _, x := range t {
				value(x)
			}
		case map[string]any:
			for _, x := range t {
				value(x)
			}
		}
	}
	value(map[string]any(n.Input))
	for _, s := range []string{n.Expr, n.Items, n.While, n.Until, n.Message} {
		text(s)
	}
	if n.Compensate != nil {
		value(map[string]any(n.Compensate.Input))
	}
	lists := [][]*Node{n.Catch, n.Default, n.Do}
	lists = append(lists, n.Branches...)
	for _, c := range n.Cases {
		lists = append(lists, c)
	}
	for _, l := range lists {
		for _, x := range l {
			nodeWords(x, fn)
		}
	}
}
