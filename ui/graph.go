package ui

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/weftlabs/weft/engine"
	"github.com/weftlabs/weft/flows"
)

// Graph is a laid-out flow graph, ready to draw as SVG. Coordinates are in
// SVG user units with the origin at the top left.
type Graph struct {
	W, H   float64
	Nodes  []GraphNode
	Edges  []GraphEdge
	Groups []GraphGroup
}

// GraphNode is one box of the graph.
type GraphNode struct {
	ID     string // unique in the graph: the ref, or ref+":join" for synthetic nodes
	Ref    string // the block ref; "" for start, end, join and merge points
	Kind   string // task, lambda, decision, fork, join, merge, map, loop, wait, subflow, fail, compensate, start, end
	Label  string
	Sub    string // second line: block name, expression, signal
	X, Y   float64
	W, H   float64
	Status string // step status; "" when not run or not a run view
	Title  string // tooltip (<title>)
	Href   string // where a click goes; "" for none
}

// GraphEdge is one arrow.
type GraphEdge struct {
	From, To string
	D        string // SVG path data
	Label    string
	LX, LY   float64 // label position
	Class    string  // "", "catch", "compensate", "back", "failed"
}

// GraphGroup is a box drawn around a map or loop body, a catch handler or
// the on_failure blocks.
type GraphGroup struct {
	Kind   string // map, loop, catch, on_failure
	Label  string
	X, Y   float64
	W, H   float64
	Status string
}

// NodeRun is what a run says about one ref, for colouring the graph.
type NodeRun struct {
	Status string
	Title  string
	Href   string
}

// Layout constants (SVG units).
const (
	gNodeH    = 50.0
	gSmallH   = 28.0
	gVGap     = 34.0 // between stacked items
	gCaseGap  = 46.0 // room for case labels above branches
	gHGap     = 28.0 // between side-by-side branches
	gPad      = 18.0 // inside groups
	gGroupTop = 22.0 // room for a group's label
	gSideGap  = 64.0 // between a block and its catch/compensate column
	gMargin   = 16.0
	gCharW    = 7.0
	gMinW     = 120.0
	gMaxW     = 230.0
)

type edgeSpec struct {
	from, to       string
	x1, y1, x2, y2 float64
	label          string
	class          string
	side           bool    // leaves sideways (catch, compensate)
	via            float64 // when > y1: go straight down to via first
}

// box is a laid-out piece of the graph in its own coordinates.
type box struct {
	w, h   float64
	axis   float64 // x where edges enter (top) and leave (bottom)
	entryY float64 // y where the incoming edge ends
	exitY  float64 // y where the outgoing edge starts
	entry  string  // node id receiving the incoming edge; "" for an empty sequence
	exit   string  // node id the outgoing edge leaves from
	// the entry node's right side, for side edges
	sideX, sideY float64

	nodes  []GraphNode
	edges  []edgeSpec
	groups []GraphGroup

	// ins and outs are where edges enter and leave when there are several
	// (a DAG list's sources and sinks); nil means entry and exit.
	ins, outs []port
}

// port is a node where an edge enters (at its top) or leaves (at its
// bottom), in the box's coordinates.
type port struct {
	id   string
	x, y float64
}

func (b *box) inPorts() []port {
	if b.ins != nil {
		return b.ins
	}
	if b.entry == "" {
		return nil
	}
	return []port{{b.entry, b.axis, b.entryY}}
}

func (b *box) outPorts() []port {
	if b.outs != nil {
		return b.outs
	}
	if b.exit == "" {
		return nil
	}
	return []port{{b.exit, b.axis, b.exitY}}
}

func shift(ps []port, dx, dy float64) []port {
	out := make([]port, len(ps))
	for i, p := range ps {
		out[i] = port{p.id, p.x + dx, p.y + dy}
	}
	return out
}

func (b *box) add(o box, dx, dy float64) {
	for _, n := range o.nodes {
		n.X += dx
		n.Y += dy
		b.nodes = append(b.nodes, n)
	}
	for _, e := range o.edges {
		e.x1 += dx
		e.x2 += dx
		e.y1 += dy
		e.y2 += dy
		if e.via > 0 {
			e.via += dy
		}
		b.edges = append(b.edges, e)
	}
	for _, g := range o.groups {
		g.X += dx
		g.Y += dy
		b.groups = append(b.groups, g)
	}
}

type layouter struct {
	run  func(ref string) NodeRun
	seen map[string]int
}

// BuildGraph lays out bp top-down. run, when not nil, gives each ref's
// status for a run view. The layout composes boxes (sequence = stacked,
// fork and decision = side by side, map and loop = a boxed group), so no
// two node boxes overlap by construction.
func BuildGraph(bp *flows.Blueprint, run func(ref string) NodeRun) Graph {
	l := &layouter{run: run, seen: map[string]int{}}
	var blocks []*flows.Node
	if bp != nil {
		blocks = bp.Blocks
	}
	start := l.leaf("start", "", "start", "start", "", 70, gSmallH)
	end := l.leaf("end", "", "end", "end", "", 70, gSmallH)
	main := l.seq(append(append([]box{start}, l.items(blocks)...), end), gVGap)

	root := box{}
	root.add(main, gMargin, gMargin)
	w, h := main.w, main.h
	if bp != nil && len(bp.OnFailure) > 0 {
		of := l.group("on_failure", "on failure: runs when the run fails", "", l.sequence(bp.OnFailure), false)
		root.add(of, gMargin+main.w+gSideGap, gMargin)
		w = main.w + gSideGap + of.w
		if of.h > h {
			h = of.h
		}
	}
	g := Graph{W: w + 2*gMargin, H: h + 2*gMargin, Nodes: root.nodes, Groups: root.groups}
	status := map[string]string{}
	for _, n := range g.Nodes {
		status[n.ID] = n.Status
	}
	for _, e := range root.edges {
		ge := GraphEdge{From: e.from, To: e.to, Label: e.label, Class: e.class}
		if s := status[e.to]; (s == "failed" || s == "timed_out") && e.class == "" {
			ge.Class = "failed"
		}
		if e.class == "back" {
			xr := e.x2 + 14
			ge.D = fmt.Sprintf("M%s %s C%s %s %s %s %s %s", f(e.x1), f(e.y1), f(xr+30), f(e.y1), f(xr+30), f(e.y2), f(e.x2), f(e.y2))
			ge.LX, ge.LY = xr+8, (e.y1+e.y2)/2
		} else if e.side {
			mx := (e.x1 + e.x2) / 2
			ge.D = fmt.Sprintf("M%s %s C%s %s %s %s %s %s", f(e.x1), f(e.y1), f(mx), f(e.y1), f(mx), f(e.y2), f(e.x2), f(e.y2))
			ge.LX, ge.LY = mx, min(e.y1, e.y2)-6
		} else {
			my := (e.y1 + e.y2) / 2
			if e.via > e.y1+1 && e.x1 != e.x2 {
				my = (e.via + e.y2) / 2
				ge.D = fmt.Sprintf("M%s %s L%s %s C%s %s %s %s %s %s", f(e.x1), f(e.y1), f(e.x1), f(e.via), f(e.x1), f(my), f(e.x2), f(my), f(e.x2), f(e.y2))
			} else if e.x1 == e.x2 {
				ge.D = fmt.Sprintf("M%s %s L%s %s", f(e.x1), f(e.y1), f(e.x2), f(e.y2))
			} else {
				ge.D = fmt.Sprintf("M%s %s C%s %s %s %s %s %s", f(e.x1), f(e.y1), f(e.x1), f(my), f(e.x2), f(my), f(e.x2), f(e.y2))
			}
			ge.LX, ge.LY = e.x2, e.y2-8
		}
		g.Edges = append(g.Edges, ge)
	}
	return g
}

func f(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

func (l *layouter) id(base string) string {
	l.seen[base]++
	if n := l.seen[base]; n > 1 {
		return base + "#" + strconv.Itoa(n)
	}
	return base
}

func textW(s ...string) float64 {
	m := 0
	for _, t := range s {
		if n := utf8.RuneCountInString(t); n > m {
			m = n
		}
	}
	w := float64(m)*gCharW + 28
	if w < gMinW {
		w = gMinW
	}
	if w > gMaxW {
		w = gMaxW
	}
	return w
}

// leaf is a single node box. w == 0 sizes it from its text.
func (l *layouter) leaf(id, ref, kind, label, sub string, w, h float64) box {
	n := GraphNode{ID: l.id(id), Ref: ref, Kind: kind, Label: label, Sub: sub, H: h}
	if ref != "" && l.run != nil {
		r := l.run(ref)
		n.Status, n.Title, n.Href = r.Status, r.Title, r.Href
	}
	if w == 0 {
		w = textW(label+"   ", sub)
		if l.run != nil {
			// Sized for the longest status, not the current one, so the
			// layout does not move as statuses change (the live refresh
			// then resends only the nodes that changed).
			w = max(w, textW(statusWidthLine(sub)))
		}
	}
	n.W = w
	if n.Title == "" {
		n.Title = strings.TrimSpace(label + " " + sub)
	}
	sub2 := truncate(sub, int((w-20)/gCharW))
	n.Sub = sub2
	return box{w: w, h: h, axis: w / 2, entryY: 0, exitY: h, entry: n.ID, exit: n.ID,
		sideX: w, sideY: h / 2, nodes: []GraphNode{n}}
}

// statusWidthLine is the longest second line a run view can give a node:
// its status icon and widest status word before the node's own text.
func statusWidthLine(sub string) string {
	return "✓ " + strings.Repeat("m", len("succeeded")) + " · " + sub
}

func truncate(s string, n int) string {
	if n < 4 {
		n = 4
	}
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

func (l *layouter) list(nodes []*flows.Node) []box {
	out := make([]box, 0, len(nodes))
	for _, n := range nodes {
		if n == nil {
			continue
		}
		out = append(out, l.node(n))
	}
	return out
}

// seq stacks boxes on one vertical axis.
func (l *layouter) seq(items []box, gap float64) box {
	if len(items) == 0 {
		return box{w: 40, h: 0, axis: 20}
	}
	left, right := 0.0, 0.0
	for _, it := range items {
		left = max(left, it.axis)
		right = max(right, it.w-it.axis)
	}
	b := box{w: left + right, axis: left}
	y := 0.0
	var prev *box
	var prevY float64
	for i := range items {
		it := items[i]
		dx := left - it.axis
		b.add(it, dx, y)
		if prev == nil {
			b.entry, b.entryY = it.entry, y+it.entryY
			b.sideX, b.sideY = dx+it.sideX, y+it.sideY
			if it.ins != nil {
				b.ins = shift(it.ins, dx, y)
			}
		} else {
			pdx := left - prev.axis
			for _, o := range prev.outPorts() {
				for _, in := range it.inPorts() {
					b.edges = append(b.edges, edgeSpec{from: o.id, to: in.id,
						x1: pdx + o.x, y1: prevY + o.y, x2: dx + in.x, y2: y + in.y, via: prevY + prev.h})
				}
			}
		}
		prev, prevY = &items[i], y
		y += it.h + gap
	}
	b.h = y - gap
	b.exit, b.exitY = prev.exit, prevY+prev.exitY
	if prev.outs != nil {
		b.outs = shift(prev.outs, left-prev.axis, prevY)
	}
	return b
}

// parallel lays columns side by side between a top node and a bottom node.
func (l *layouter) parallel(top box, cols []box, labels []string, bottom box, gap float64) box {
	colsW := 0.0
	for i, c := range cols {
		if i > 0 {
			colsW += gHGap
		}
		cw := c.w
		if i < len(labels) {
			cw = max(cw, textW(labels[i])-20)
		}
		colsW += cw
	}
	w := max(colsW, top.w, bottom.w)
	axis := w / 2
	b := box{w: w, axis: axis}
	b.add(top, axis-top.axis, 0)
	y0 := top.h + gap
	maxH := 0.0
	for _, c := range cols {
		maxH = max(maxH, c.h)
	}
	yb := y0 + maxH + gVGap
	if maxH == 0 {
		yb = y0
	}
	b.add(bottom, axis-bottom.axis, yb)
	x := (w - colsW) / 2
	for i, c := range cols {
		cw := c.w
		if i < len(labels) {
			cw = max(cw, textW(labels[i])-20)
		}
		cx := x + (cw-c.w)/2
		b.add(c, cx, y0)
		ax := cx + c.axis
		lbl := ""
		if i < len(labels) {
			lbl = labels[i]
		}
		if c.entry == "" { // empty branch: straight through
			b.edges = append(b.edges, edgeSpec{from: top.exit, to: bottom.entry,
				x1: axis, y1: top.exitY, x2: axis + (ax-axis)*0.999, y2: yb + bottom.entryY, label: lbl})
		} else {
			for _, in := range c.inPorts() {
				b.edges = append(b.edges, edgeSpec{from: top.exit, to: in.id, x1: axis, y1: top.exitY, x2: cx + in.x, y2: y0 + in.y, label: lbl})
				lbl = ""
			}
			for _, o := range c.outPorts() {
				b.edges = append(b.edges, edgeSpec{from: o.id, to: bottom.entry, x1: cx + o.x, y1: y0 + o.y, x2: axis, y2: yb + bottom.entryY, via: y0 + maxH})
			}
		}
		x += cw + gHGap
	}
	b.h = yb + bottom.h
	b.entry, b.entryY = top.entry, top.entryY
	b.exit, b.exitY = bottom.exit, yb+bottom.exitY
	b.sideX, b.sideY = axis-top.axis+top.sideX, top.sideY
	return b
}

// group draws a labelled box around body, with an optional header node.
func (l *layouter) group(kind, label, status string, body box, hasHeader bool) box {
	w := max(body.w, textW(label)-10) + 2*gPad
	b := box{w: w, axis: w / 2}
	b.add(body, (w-body.w)/2, gGroupTop+gPad/2)
	b.h = gGroupTop + gPad/2 + body.h + gPad
	b.groups = append([]GraphGroup{{Kind: kind, Label: label, X: 0, Y: 0, W: w, H: b.h, Status: status}}, b.groups...)
	b.axis = (w-body.w)/2 + body.axis
	b.entry, b.exit = body.entry, body.exit
	b.entryY, b.exitY = 0, b.h
	if hasHeader {
		b.entryY = gGroupTop + gPad/2 + body.entryY
	}

	b.sideX, b.sideY = (w-body.w)/2+body.sideX, gGroupTop+gPad/2+body.sideY
	return b
}

func (l *layouter) node(n *flows.Node) box {
	var b box
	switch n.Type {
	case flows.TypeFork:
		top := l.leaf(n.Ref, n.Ref, "fork", n.Ref, "fork · "+strconv.Itoa(len(n.Branches))+" branches", 0, gNodeH)
		join := n.Join
		if join == "" {
			join = flows.JoinAll
		}
		bottom := l.leaf(n.Ref+":join", "", "join", "join "+join, "", 90, gSmallH)
		cols := make([]box, 0, len(n.Branches))
		for _, br := range n.Branches {
			cols = append(cols, l.sequence(br))
		}
		b = l.parallel(top, cols, nil, bottom, gVGap)
	case flows.TypeDecision:
		top := l.leaf(n.Ref, n.Ref, "decision", n.Ref, n.Expr, 0, gNodeH)
		names := make([]string, 0, len(n.Cases)+1)
		for name := range n.Cases {
			names = append(names, name)
		}
		sort.Strings(names)
		cols := make([]box, 0, len(names)+1)
		for _, name := range names {
			cols = append(cols, l.sequence(n.Cases[name]))
		}
		if len(n.Default) > 0 {
			names = append(names, "default")
			cols = append(cols, l.sequence(n.Default))
		}
		bottom := l.leaf(n.Ref+":merge", "", "merge", "", "", 14, 14)
		b = l.parallel(top, cols, names, bottom, gCaseGap)
	case flows.TypeMap, flows.TypeLoop:
		var sub, label string
		if n.Type == flows.TypeMap {
			sub = "each item of " + n.Items
			label = "map " + n.Ref
			if n.Concurrency > 0 {
				label += " · up to " + strconv.Itoa(n.Concurrency) + " at once"
			}
		} else {
			sub = "while " + n.While
			label = "loop " + n.Ref + " · at most " + strconv.Itoa(n.MaxIterations) + " iterations"
		}
		head := l.leaf(n.Ref, n.Ref, n.Type, n.Ref, sub, 0, gNodeH)
		body := l.seq(append([]box{head}, l.items(n.Do)...), gVGap)
		status := head.nodes[0].Status
		b = l.group(n.Type, label, status, body, true)
		if n.Type == flows.TypeLoop && len(n.Do) > 0 {
			// the back edge runs up the group's right padding
			top := gGroupTop + gPad/2
			b.edges = append(b.edges, edgeSpec{from: body.exit, to: head.nodes[0].ID, class: "back",
				x1: b.axis, y1: top + body.exitY, x2: b.axis + head.w/2, y2: top + gNodeH/2, label: "repeat"})
		}
	default:
		kind, sub := "task", n.Block
		switch n.Type {
		case flows.TypeLambda:
			kind, sub = "lambda", n.Expr
		case flows.TypeWait:
			kind = "wait"
			switch {
			case n.Signal != "":
				sub = "wait for signal " + n.Signal
			case n.Duration > 0:
				sub = "wait " + time.Duration(n.Duration).String()
			case n.Until != "":
				sub = "wait until " + n.Until
			default:
				sub = "wait"
			}
		case flows.TypeSubflow:
			kind, sub = "subflow", "subflow → "+n.Flow
		case flows.TypeFail:
			kind, sub = "fail", "fail: "+n.Message
		}
		if n.Optional {
			sub += " (optional)"
		}
		b = l.leaf(n.Ref, n.Ref, kind, n.Ref, sub, 0, gNodeH)
	}
	return l.side(n, b)
}

var sideClass = map[string]string{"catch": "catch", "undo": "compensate"}

// side adds a node's catch handler and compensation in a column to its right.
func (l *layouter) side(n *flows.Node, b box) box {
	var parts []box
	var labels []string
	if len(n.Catch) > 0 {
		parts = append(parts, l.group("catch", "catch "+n.Ref, "", l.sequence(n.Catch), false))
		labels = append(labels, "catch")
	}
	if n.Compensate != nil {
		parts = append(parts, l.leaf(n.Ref+":undo", "", "compensate", "undo "+n.Ref, n.Compensate.Block, 0, gNodeH))
		labels = append(labels, "undo")
	}
	if len(parts) == 0 {
		return b
	}
	out := box{axis: b.axis, entry: b.entry, exit: b.exit, entryY: b.entryY, exitY: b.exitY, sideX: b.sideX, sideY: b.sideY, ins: b.ins, outs: b.outs}
	out.add(b, 0, 0)
	x := b.w + gSideGap
	y := 0.0
	w := b.w
	for i, p := range parts {
		out.add(p, x, y)
		out.edges = append(out.edges, edgeSpec{from: b.entry, to: p.entry, x1: b.sideX, y1: b.sideY,
			x2: x, y2: y + p.sideY, label: labels[i], class: sideClass[labels[i]], side: true})
		y += p.h + gVGap
		w = max(w, x+p.w)
	}
	out.w = w
	out.h = max(b.h, y-gVGap)
	return out
}

// RunNodes summarises a run's steps by ref for BuildGraph: the most
// pressing status of the ref's steps (map and loop iterations share a ref),
// with attempts and durations in the tooltip, and href(path) as the link.
func RunNodes(steps []engine.Step, now time.Time, href func(path string) string) func(ref string) NodeRun {
	byRef := map[string][]engine.Step{}
	for _, s := range steps {
		byRef[s.Ref] = append(byRef[s.Ref], s)
	}
	return func(ref string) NodeRun {
		ss := byRef[ref]
		if len(ss) == 0 {
			return NodeRun{}
		}
		best := ss[0]
		var lines []string
		for _, s := range ss {
			if stepRank(s.Status) > stepRank(best.Status) {
				best = s
			}
			att := s.Attempt
			if len(s.Attempts) > att {
				att = len(s.Attempts)
			}
			line := fmt.Sprintf("%s: %s · %d attempt%s · %s", s.Path, StatusWord(string(s.Status)),
				att, plural(att), Span(s.StartedAt, s.FinishedAt, now))
			if s.Status == engine.StepRunning && s.StatusDetail != "" {
				line += " · " + truncate(s.StatusDetail, 200)
			}
			lines = append(lines, line)
		}
		if len(lines) > 12 {
			lines = append(lines[:12], fmt.Sprintf("… and %d more", len(lines)-12))
		}
		title := strings.Join(lines, "\n")
		if best.Error != nil && best.Error.Message != "" {
			title += "\nerror: " + truncate(best.Error.Message, 200)
		}
		nr := NodeRun{Status: string(best.Status), Title: title}
		if href != nil {
			nr.Href = href(best.Path)
		}
		return nr
	}
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// hexPoints is a decision node's outline: a box with pointed sides.
func hexPoints(n GraphNode) string {
	x, y, w, h := n.X, n.Y, n.W, n.H
	d := 12.0
	return f(x+d) + "," + f(y) + " " + f(x+w-d) + "," + f(y) + " " + f(x+w) + "," + f(y+h/2) + " " +
		f(x+w-d) + "," + f(y+h) + " " + f(x+d) + "," + f(y+h) + " " + f(x) + "," + f(y+h/2)
}

// kindIcon prefixes a node's label with its control-block kind.
func kindIcon(kind string) string {
	switch kind {
	case "fork":
		return "⋔ "
	case "decision":
		return "◇ "
	case "map":
		return "⇶ "
	case "loop":
		return "↻ "
	case "wait":
		return "⚑ "
	case "subflow":
		return "⇲ "
	case "fail":
		return "⚠ "
	case "lambda":
		return "λ "
	case "compensate":
		return "↶ "
	}
	return ""
}
