package ui

import (
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/weftlabs/weft/flows"
)

// checkLayout fails when two node boxes overlap, a node leaves the canvas,
// or a group does not contain the nodes drawn inside it.
func checkLayout(t *testing.T, name string, g Graph) {
	t.Helper()
	ns := g.Nodes
	for i := range ns {
		a := ns[i]
		if a.X < 0 || a.Y < 0 || a.X+a.W > g.W+0.01 || a.Y+a.H > g.H+0.01 {
			t.Errorf("%s: node %s (%.0f,%.0f %.0fx%.0f) leaves the %.0fx%.0f canvas", name, a.ID, a.X, a.Y, a.W, a.H, g.W, g.H)
		}
		for j := i + 1; j < len(ns); j++ {
			b := ns[j]
			if a.X < b.X+b.W && b.X < a.X+a.W && a.Y < b.Y+b.H && b.Y < a.Y+a.H {
				t.Errorf("%s: nodes %s and %s overlap", name, a.ID, b.ID)
			}
		}
	}
	ids := map[string]bool{}
	for _, n := range ns {
		if ids[n.ID] {
			t.Errorf("%s: node id %s twice", name, n.ID)
		}
		ids[n.ID] = true
	}
	for _, e := range g.Edges {
		if !ids[e.From] || !ids[e.To] {
			t.Errorf("%s: edge %s -> %s names a missing node", name, e.From, e.To)
		}
	}
	// groups never cut through a node: each node is inside or outside
	for _, gr := range g.Groups {
		for _, n := range ns {
			inX := n.X >= gr.X && n.X+n.W <= gr.X+gr.W
			inY := n.Y >= gr.Y && n.Y+n.H <= gr.Y+gr.H
			outside := n.X >= gr.X+gr.W || n.X+n.W <= gr.X || n.Y >= gr.Y+gr.H || n.Y+n.H <= gr.Y
			if !(inX && inY) && !outside {
				t.Errorf("%s: group %q cuts through node %s", name, gr.Label, n.ID)
			}
		}
	}
}

func TestGraphExamplesDoNotOverlap(t *testing.T) {
	t.Parallel()
	files, _ := filepath.Glob("../flows/examples/*.json")
	local, _ := filepath.Glob("testdata/*.json")
	files = append(files, local...)
	if len(files) < 2 {
		t.Fatalf("found %d blueprints to lay out", len(files))
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		bp := blueprintOf(t, raw, 1)
		g := BuildGraph(bp, nil)
		checkLayout(t, f, g)
		// every ref of the blueprint is drawn
		drawn := map[string]bool{}
		for _, n := range g.Nodes {
			drawn[n.Ref] = true
		}
		for ref := range bp.Nodes {
			if !drawn[ref] {
				t.Errorf("%s: ref %s is not drawn", f, ref)
			}
		}
	}
}

func TestGraphShapes(t *testing.T) {
	t.Parallel()
	bp := loadBlueprint(t, "nested.json", 1)
	g := BuildGraph(bp, nil)
	kinds := map[string]int{}
	for _, n := range g.Nodes {
		kinds[n.Kind]++
	}
	for _, k := range []string{"map", "loop", "decision", "subflow", "wait", "fail", "merge", "start", "end"} {
		if kinds[k] == 0 {
			t.Errorf("no %s node drawn: %v", k, kinds)
		}
	}
	groups := map[string]int{}
	for _, gr := range g.Groups {
		groups[gr.Kind]++
	}
	if groups["map"] != 1 || groups["loop"] != 1 || groups["catch"] != 1 {
		t.Errorf("groups: got %v, want a map, a loop and a catch", groups)
	}
	labels := map[string]bool{}
	for _, e := range g.Edges {
		labels[e.Label] = true
	}
	for _, l := range []string{"ok", "no", "default", "catch", "repeat"} {
		if !labels[l] {
			t.Errorf("no edge labelled %q", l)
		}
	}
	// the map's body sits inside the map's group
	var mg GraphGroup
	for _, gr := range g.Groups {
		if gr.Kind == "map" {
			mg = gr
		}
	}
	for _, n := range g.Nodes {
		if n.Ref == "embed" && !(n.X > mg.X && n.X+n.W < mg.X+mg.W && n.Y > mg.Y && n.Y+n.H < mg.Y+mg.H) {
			t.Errorf("embed is outside the map group")
		}
	}

	house := loadBlueprint(t, "house.json", 1)
	hg := BuildGraph(house, func(ref string) NodeRun {
		if ref == "register" {
			return NodeRun{Status: "failed"}
		}
		return NodeRun{Status: "succeeded"}
	})
	var into []GraphEdge
	for _, e := range hg.Edges {
		if e.To == "register" {
			into = append(into, e)
		}
	}
	if len(into) != 1 || into[0].Class != "failed" {
		t.Errorf("edge into the failed step: got %+v, want one with class failed", into)
	}
	for _, e := range hg.Edges {
		if e.To != "register" && e.Class == "failed" {
			t.Errorf("edge %s -> %s is marked failed", e.From, e.To)
		}
	}
}

// genSeq builds a random nested sequence of control blocks.
func genSeq(r *rand.Rand, depth int, n *int) []*flows.Node {
	var out []*flows.Node
	for i, k := 0, 1+r.Intn(3); i < k; i++ {
		*n++
		ref := fmt.Sprintf("n%d_%s", *n, strings.Repeat("x", r.Intn(25)))
		node := &flows.Node{Ref: ref, Block: "some.block"}
		if depth > 0 {
			switch r.Intn(7) {
			case 0:
				node = &flows.Node{Ref: ref, Type: flows.TypeFork}
				for b, nb := 0, 1+r.Intn(3); b < nb; b++ {
					node.Branches = append(node.Branches, genSeq(r, depth-1, n))
				}
				if r.Intn(4) == 0 {
					node.Branches = append(node.Branches, nil)
				}
			case 1:
				node = &flows.Node{Ref: ref, Type: flows.TypeDecision, Expr: "x ? 'a' : 'b'", Cases: map[string][]*flows.Node{}}
				for c, nc := 0, 1+r.Intn(3); c < nc; c++ {
					node.Cases[fmt.Sprintf("case_%d_%s", c, strings.Repeat("long", r.Intn(5)))] = genSeq(r, depth-1, n)
				}
				if r.Intn(2) == 0 {
					node.Default = genSeq(r, depth-1, n)
				}
			case 2:
				node = &flows.Node{Ref: ref, Type: flows.TypeMap, Items: "flow.input.items", Do: genSeq(r, depth-1, n)}
			case 3:
				node = &flows.Node{Ref: ref, Type: flows.TypeLoop, While: "true", MaxIterations: 3, Do: genSeq(r, depth-1, n)}
			case 4:
				node.Catch = genSeq(r, depth-1, n)
			case 5:
				node.Compensate = &flows.Compensate{Block: "undo.it"}
				node.Catch = genSeq(r, depth-1, n)
			}
		}
		out = append(out, node)
	}
	return out
}

func TestGraphGeneratedNestedDoNotOverlap(t *testing.T) {
	t.Parallel()
	for seed := int64(1); seed <= 300; seed++ {
		r := rand.New(rand.NewSource(seed))
		n := 0
		bp := &flows.Blueprint{Name: "gen", Blocks: genSeq(r, 4, &n)}
		if r.Intn(3) == 0 {
			bp.OnFailure = genSeq(r, 1, &n)
		}
		checkLayout(t, fmt.Sprintf("seed %d (%d nodes)", seed, n), BuildGraph(bp, nil))
		if t.Failed() {
			return
		}
	}
}
