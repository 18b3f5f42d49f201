package ui

import (
	"sort"

	"github.com/weftlabs/weft/flows"
)

// sequence lays out a list of blocks: stacked, or as a layered graph
// when the list is in DAG form.
func (l *layouter) sequence(nodes []*flows.Node) box {
	if flows.IsDAG(nodes) {
		return l.dag(nodes)
	}
	return l.seq(l.list(nodes), gVGap)
}

// items is a list's boxes for stacking between others: one per block, or
// one layered graph for a DAG list.
func (l *layouter) items(nodes []*flows.Node) []box {
	if flows.IsDAG(nodes) {
		return []box{l.dag(nodes)}
	}
	return l.list(nodes)
}

// dag lays out a DAG list in layers: a block sits one layer below the
// deepest block it depends on (a sink in the last layer), blocks of a layer side by side (ordered
// by where their dependencies are), and every depends_on is one edge; a
// trigger rule other than all_success is written where a block's edges
// meet. Edges enter its sources and leave its sinks; there are no fork
// or join nodes.
func (l *layouter) dag(list []*flows.Node) box {
	var nodes []*flows.Node
	byRef := map[string]*flows.Node{}
	for _, n := range list {
		if n != nil {
			nodes = append(nodes, n)
			byRef[n.Ref] = n
		}
	}
	ups := map[*flows.Node][]*flows.Node{}
	hasDown := map[*flows.Node]bool{}
	for _, n := range nodes {
		for _, r := range n.DependsOn {
			if u := byRef[r]; u != nil && u != n {
				ups[n] = append(ups[n], u)
				hasDown[u] = true
			}
		}
	}
	// Longest-path layers; a cycle (only in a blueprint that did not
	// validate) stops after len(nodes) rounds.
	layer := map[*flows.Node]int{}
	for round := 0; round < len(nodes); round++ {
		moved := false
		for _, n := range nodes {
			for _, u := range ups[n] {
				if layer[u]+1 > layer[n] && layer[u]+1 < len(nodes) {
					layer[n] = layer[u] + 1
					moved = true
				}
			}
		}
		if !moved {
			break
		}
	}
	depth := 0
	for _, n := range nodes {
		depth = max(depth, layer[n]+1)
	}
	// Sinks sit in the last layer, so the edges leaving the list do not
	// run down through the layers below them (a block alone stays on top).
	for _, n := range nodes {
		if !hasDown[n] && len(ups[n]) > 0 {
			layer[n] = depth - 1
		}
	}
	boxes := map[*flows.Node]box{}
	for _, n := range nodes {
		boxes[n] = l.node(n)
	}
	rows := make([][]*flows.Node, depth)
	for _, n := range nodes {
		rows[layer[n]] = append(rows[layer[n]], n)
	}

	// Place the layers: widths first, then x by the order of each row.
	pos := map[*flows.Node][2]float64{} // x, y of each box
	rowW := make([]float64, depth)
	rowH := make([]float64, depth)
	rowGap := make([]float64, depth) // the gap above each row
	for i, row := range rows {
		for j, n := range row {
			if j > 0 {
				rowW[i] += gHGap
			}
			rowW[i] += boxes[n].w
			rowH[i] = max(rowH[i], boxes[n].h)
			if i > 0 {
				rowGap[i] = gVGap
				if n.Rule() != flows.RuleAllSuccess {
					rowGap[i] = gCaseGap
				}
			}
		}
	}
	w := 0.0
	for _, rw := range rowW {
		w = max(w, rw)
	}
	y := 0.0
	for i, row := range rows {
		y += rowGap[i]
		if i > 0 {
			// Order by the mean x of each block's dependencies.
			key := map[*flows.Node]float64{}
			for _, n := range row {
				sum := 0.0
				for _, u := range ups[n] {
					sum += pos[u][0] + boxes[u].axis
				}
				if len(ups[n]) > 0 {
					key[n] = sum / float64(len(ups[n]))
				}
			}
			sort.SliceStable(row, func(a, b int) bool { return key[row[a]] < key[row[b]] })
		}
		x := (w - rowW[i]) / 2
		for _, n := range row {
			pos[n] = [2]float64{x, y}
			x += boxes[n].w + gHGap
		}
		y += rowH[i]
	}

	b := box{w: w, h: y, axis: w / 2}
	for _, n := range nodes {
		bx := boxes[n]
		p := pos[n]
		b.add(bx, p[0], p[1])
		if len(ups[n]) == 0 {
			b.ins = append(b.ins, port{bx.entry, p[0] + bx.axis, p[1] + bx.entryY})
		}
		if !hasDown[n] {
			b.outs = append(b.outs, port{bx.exit, p[0] + bx.axis, p[1] + bx.exitY})
		}
		label := ""
		if r := n.Rule(); r != flows.RuleAllSuccess {
			label = r
		}
		for _, u := range ups[n] {
			ub, up := boxes[u], pos[u]
			b.edges = append(b.edges, edgeSpec{from: ub.exit, to: bx.entry, label: label,
				x1: up[0] + ub.axis, y1: up[1] + ub.exitY, x2: p[0] + bx.axis, y2: p[1] + bx.entryY,
				via: up[1] + rowH[layer[u]]})
			label = "" // the rule is written once, where the edges meet
		}
	}
	if len(b.ins) > 0 {
		b.entry, b.entryY = b.ins[0].id, b.ins[0].y
		b.sideX, b.sideY = b.ins[0].x, b.ins[0].y
	}
	if len(b.outs) > 0 {
		b.exit, b.exitY = b.outs[0].id, b.outs[0].y
	}
	return b
}
