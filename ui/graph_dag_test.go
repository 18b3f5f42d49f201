package ui

import (
	"fmt"
	"math/rand"
	"sort"
	"strings"
	"testing"

	"github.com/weftlabs/weft/flows"
)

func edgeList(g Graph) string {
	var out []string
	for _, e := range g.Edges {
		s := e.From + "->" + e.To
		if e.Label != "" {
			s += "[" + e.Label + "]"
		}
		out = append(out, s)
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

// A DAG list is drawn with its own edges: no fork or join nodes, one
// edge per dependency, rules other than all_success on their edges, the
// flow's start into every source and every sink into its end.
func TestGraphDAGShape(t *testing.T) {
	t.Parallel()
	bp := &flows.Blueprint{Name: "d", Blocks: []*flows.Node{
		{Ref: "join", Type: flows.TypeLambda, Expr: "1", DependsOn: []string{"left", "right"}},
		{Ref: "left", Block: "b", DependsOn: []string{"src"}},
		{Ref: "right", Block: "b", DependsOn: []string{"src"}},
		{Ref: "src", Block: "b"},
		{Ref: "other", Block: "b", DependsOn: []string{}},
		{Ref: "alert", Block: "b", DependsOn: []string{"left", "right"}, TriggerRule: "one_failed"},
	}}
	g := BuildGraph(bp, nil)
	checkLayout(t, "diamond", g)
	want := "alert->end join->end left->alert[one_failed] left->join other->end right->alert right->join src->left src->right start->other start->src"
	if got := edgeList(g); got != want {
		t.Fatalf("edges:\n got %s\nwant %s", got, want)
	}
	y := map[string]float64{}
	for _, n := range g.Nodes {
		if n.Kind == "fork" || n.Kind == "join" || n.Kind == "merge" {
			t.Errorf("a DAG drawn with a %s node %s", n.Kind, n.ID)
		}
		y[n.ID] = n.Y
	}
	// Layers: src above left and right, they above join and alert.
	if !(y["src"] < y["left"] && y["left"] == y["right"] && y["right"] < y["join"] && y["join"] == y["alert"]) {
		t.Fatalf("layers: %v", y)
	}
}

// genDAG builds a random DAG list whose blocks may hold nested lists
// (sequences or DAGs) themselves.
func genDAG(r *rand.Rand, depth int, n *int) []*flows.Node {
	k := 2 + r.Intn(7)
	out := make([]*flows.Node, 0, k)
	for i := 0; i < k; i++ {
		*n++
		ref := fmt.Sprintf("d%d_%s", *n, strings.Repeat("y", r.Intn(20)))
		node := &flows.Node{Ref: ref, Block: "some.block", DependsOn: []string{}}
		for j := 0; j < i; j++ {
			if r.Intn(3) == 0 {
				node.DependsOn = append(node.DependsOn, out[j].Ref)
			}
		}
		if r.Intn(4) == 0 {
			node.TriggerRule = []string{"all_done", "one_failed", "one_success", "none_failed", "all_failed", "always"}[r.Intn(6)]
		}
		if depth > 0 {
			switch r.Intn(5) {
			case 0:
				node.Type, node.Block = flows.TypeFork, ""
				node.Branches = [][]*flows.Node{genDAG(r, depth-1, n), genSeq(r, depth-1, n)}
			case 1:
				node.Type, node.Block, node.Items = flows.TypeMap, "", "flow.input.x"
				node.Do = genDAG(r, depth-1, n)
			case 2:
				node.Catch = genDAG(r, depth-1, n)
			}
		}
		out = append(out, node)
	}
	// Document order need not be dependency order.
	r.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

func TestGraphGeneratedDAGsDoNotOverlap(t *testing.T) {
	t.Parallel()
	for seed := int64(1); seed <= 200; seed++ {
		r := rand.New(rand.NewSource(seed))
		n := 0
		bp := &flows.Blueprint{Name: "gen", Blocks: genDAG(r, 2, &n)}
		if r.Intn(2) == 0 {
			bp.Blocks = append(genSeq(r, 1, &n), &flows.Node{Ref: "wrap", Type: flows.TypeFork, Branches: [][]*flows.Node{bp.Blocks, genDAG(r, 1, &n)}})
		}
		g := BuildGraph(bp, nil)
		checkLayout(t, fmt.Sprintf("seed %d (%d nodes)", seed, n), g)
		// Every dependency is an edge between the two blocks' nodes.
		edges := map[string]bool{}
		for _, e := range g.Edges {
			edges[e.From+"->"+e.To] = true
		}
		refs := map[string]*flows.Node{}
		var index func([]*flows.Node)
		index = func(list []*flows.Node) {
			for _, x := range list {
				refs[x.Ref] = x
				index(x.Do)
				index(x.Catch)
				for _, b := range x.Branches {
					index(b)
				}
			}
		}
		index(bp.Blocks)
		var walk func([]*flows.Node)
		walk = func(list []*flows.Node) {
			for _, x := range list {
				if x.Type == "" {
					for _, d := range x.DependsOn {
						from := d // a map's edge leaves from inside its group: not checked
						switch refs[d].Type {
						case flows.TypeFork:
							from = d + ":join"
						case flows.TypeMap:
							continue
						}
						if !edges[from+"->"+x.Ref] {
							t.Errorf("seed %d: no edge %s -> %s for its depends_on", seed, from, x.Ref)
						}
					}
				}
				walk(x.Do)
				walk(x.Catch)
				for _, b := range x.Branches {
					walk(b)
				}
			}
		}
		walk(bp.Blocks)
		if t.Failed() {
			return
		}
	}
}
