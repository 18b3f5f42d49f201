package conductor

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/expr-lang/expr/builtin"

	"github.com/weftlabs/weft/blocks/jsoncheck"
	"github.com/weftlabs/weft/flows"
)

// Convert turns Conductor definitions into Weft block definitions and
// blueprints. Every problem is collected in Result.Problems; the caller
// stores nothing unless there are none (and Validate finds none).
func Convert(srcs []Source) *Result {
	c := &converter{res: &Result{}, taskDefs: map[string]*TaskDef{}, blockIdx: map[string]int{}, typeOf: map[string]string{}}
	type wfAt struct {
		def  *WorkflowDef
		src  string
		base string
	}
	var wfs []wfAt
	for _, s := range srcs {
		c.src = s.Name
		ix, err := jsoncheck.NewIndex(s.Data)
		if err != nil {
			for _, p := range jsoncheck.Problems(err) {
				c.res.Problems = append(c.res.Problems, Problem{Source: s.Name, Pointer: p.Pointer, Message: p.Msg, Line: p.Line, Col: p.Col})
			}
			if len(jsoncheck.Problems(err)) == 0 {
				c.res.Problems = append(c.res.Problems, Problem{Source: s.Name, Message: err.Error()})
			}
			continue
		}
		c.res.idx = append(c.res.idx, srcIndex{s.Name, ix})
		var doc any
		if err := json.Unmarshal(s.Data, &doc); err != nil {
			c.problemAt(s.Name, "", "not JSON: %v", err)
			continue
		}
		var visit func(v any, ptr string)
		visit = func(v any, ptr string) {
			switch x := v.(type) {
			case []any:
				for i, e := range x {
					visit(e, ptr+"/"+itoa(i))
				}
			case map[string]any:
				if _, ok := x["tasks"]; ok {
					var wf WorkflowDef
					if err := remarshal(x, &wf); err != nil {
						c.problemAt(s.Name, ptr, "not a Conductor workflow definition: %v", err)
						return
					}
					wfs = append(wfs, wfAt{&wf, s.Name, ptr})
					return
				}
				if wd, ok := x["workflowDefs"]; ok {
					visit(wd, ptr+"/workflowDefs")
					if td, ok := x["taskDefs"]; ok {
						visit(td, ptr+"/taskDefs")
					}
					return
				}
				if td, ok := x["taskDefs"]; ok {
					visit(td, ptr+"/taskDefs")
					return
				}
				if name, ok := x["name"].(string); ok && name != "" {
					var td TaskDef
					if err := remarshal(x, &td); err != nil {
						c.problemAt(s.Name, ptr, "not a Conductor task definition: %v", err)
						return
					}
					c.taskDefs[td.Name] = &td
					return
				}
				c.problemAt(s.Name, ptr, "neither a workflow definition (it has no \"tasks\") nor a task definition (it has no \"name\")")
			default:
				c.problemAt(s.Name, ptr, "expected a Conductor workflow or task definition (a JSON object) or a list of them")
			}
		}
		visit(doc, "")
	}
	if len(wfs) == 0 && len(c.res.Problems) == 0 && len(c.taskDefs) == 0 {
		c.problemAt("", "", "no Conductor workflow or task definition found")
	}
	// Task definitions become blocks even when no workflow uses them.
	names := make([]string, 0, len(c.taskDefs))
	for n := range c.taskDefs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		c.workerBlock(n, c.taskDefs[n], "")
	}
	for _, w := range wfs {
		before := len(c.res.Problems)
		c.src = w.src
		f := c.workflow(w.def, w.base)
		if len(c.res.Problems) == before && f != nil {
			c.res.Complete = append(c.res.Complete, w.def.Name)
		}
	}
	c.res.locate()
	return c.res
}

func remarshal(v any, out any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, out)
}

type srcIndex struct {
	name string
	ix   *jsoncheck.Index
}

type converter struct {
	res      *Result
	src      string
	taskDefs map[string]*TaskDef
	blockIdx map[string]int    // Weft block name -> index in res.Blocks
	typeOf   map[string]string // Weft block name -> Conductor task type
}

func (c *converter) problemAt(src, ptr, format string, args ...any) {
	c.res.Problems = append(c.res.Problems, Problem{Source: src, Pointer: ptr, Message: fmt.Sprintf(format, args...)})
}

func (c *converter) noteAt(src, ptr, format string, args ...any) {
	c.res.Notes = append(c.res.Notes, Problem{Source: src, Pointer: ptr, Message: fmt.Sprintf(format, args...)})
}

// locate adds line and column to every problem and note.
func (r *Result) locate() {
	fill := func(ps []Problem) {
		for i := range ps {
			for _, s := range r.idx {
				if s.name == ps[i].Source {
					ps[i].Line, ps[i].Col = s.ix.Pos(ps[i].Pointer)
				}
			}
		}
	}
	fill(r.Problems)
	fill(r.Notes)
}

var nameBadRE = regexp.MustCompile(`[^a-z0-9_.-]+`)
var refBadRE = regexp.MustCompile(`[^a-z0-9_]+`)

// Looks reports whether data looks like Conductor definitions rather
// than a Weft blueprint: a workflow definition (it has "tasks" and no
// "blocks"), a list of definitions, or {"workflowDefs", "taskDefs"}.
func Looks(data []byte) bool {
	var obj map[string]json.RawMessage
	if json.Unmarshal(data, &obj) == nil {
		_, tasks := obj["tasks"]
		_, blocks := obj["blocks"]
		_, wd := obj["workflowDefs"]
		_, td := obj["taskDefs"]
		return (tasks && !blocks) || wd || td
	}
	var list []map[string]json.RawMessage
	if json.Unmarshal(data, &list) == nil && len(list) > 0 {
		for _, x := range list {
			if _, ok := x["tasks"]; ok {
				return true
			}
			if _, ok := x["retryCount"]; ok {
				return true
			}
		}
	}
	return false
}

// FlowName is the Weft flow a Conductor workflow named s is imported as.
func FlowName(s string) string { return weftName(s) }

// weftName turns a Conductor name into a Weft block or flow name.
func weftName(s string) string {
	n := nameBadRE.ReplaceAllString(strings.ToLower(s), "_")
	if n == "" || n[0] < 'a' || n[0] > 'z' {
		n = "c_" + n
	}
	if len(n) > 200 {
		n = n[:200]
	}
	return n
}

var queueRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:-]*$`)

// workerBlock records the worker block for Conductor task type typ.
func (c *converter) workerBlock(typ string, td *TaskDef, ptr string) string {
	name := weftName(typ)
	if prev, ok := c.typeOf[name]; ok {
		if prev != typ {
			c.problemAt(c.src, ptr, "task types %q and %q both become block %q; rename one", prev, typ, name)
		}
		return name
	}
	if !queueRE.MatchString(typ) {
		c.problemAt(c.src, ptr, "task type %q cannot be a Weft queue name (letters, digits, _ . : - only); rename the task type", typ)
	}
	c.typeOf[name] = typ
	def := map[string]any{
		"name":     name,
		"dispatch": map[string]any{"kind": "worker", "queue": typ},
	}
	if typ != name {
		def["title"] = typ
	}
	if td != nil {
		applyTaskDef(def, td, func(format string, args ...any) { c.noteAt(c.src, ptr, format, args...) })
	}
	c.addBlock(name, typ, def, ptr, "")
	c.res.Blocks[len(c.res.Blocks)-1].Default = td == nil
	return name
}

func (c *converter) addBlock(name, from string, def map[string]any, ptr, flow string) {
	b, _ := json.Marshal(def)
	c.blockIdx[name] = len(c.res.Blocks)
	c.res.Blocks = append(c.res.Blocks, Block{Name: name, JSON: b, From: from, Source: c.src, Pointer: ptr, Flow: flow})
}

func seconds(n int64) string { return strconv.FormatInt(n, 10) + "s" }

// applyTaskDef carries a task definition's retry, timeouts and limits.
func applyTaskDef(def map[string]any, td *TaskDef, note func(string, ...any)) {
	if td.Description != "" {
		def["description"] = td.Description
	}
	retries := 3 // Conductor's default retryCount
	if td.RetryCount != nil {
		retries = *td.RetryCount
	}
	if retries > 0 {
		r := map[string]any{"max_attempts": min(retries+1, 100)}
		switch td.RetryLogic {
		case "EXPONENTIAL_BACKOFF":
			r["backoff"] = "exponential"
		case "LINEAR_BACKOFF":
			r["backoff"] = "fixed"
			note("retryLogic LINEAR_BACKOFF becomes a fixed back-off of retryDelaySeconds; Weft has fixed and exponential back-off")
		default:
			r["backoff"] = "fixed"
		}
		if td.RetryDelaySeconds > 0 {
			r["initial_interval"] = seconds(td.RetryDelaySeconds)
		}
		def["retry"] = r
	}
	if td.TimeoutSeconds > 0 {
		def["timeout"] = seconds(td.TimeoutSeconds)
	}
	if td.ResponseTimeoutSeconds > 0 {
		def["heartbeat_timeout"] = seconds(td.ResponseTimeoutSeconds)
	}
	switch {
	case td.ConcurrentExecLimit > 0:
		def["concurrency"] = td.ConcurrentExecLimit
	case td.RateLimitPerFrequency > 0:
		def["concurrency"] = td.RateLimitPerFrequency
		note("rateLimitPerFrequency %d per %ds becomes concurrency %d: Weft caps the steps of a block in flight, not starts per period", td.RateLimitPerFrequency, td.RateLimitFrequencyInSeconds, td.RateLimitPerFrequency)
	}
}

// refInfo is what the converter knows about one Conductor task reference.
type refInfo struct {
	weft string // the Weft ref (or the fork/map a JOIN stands for)
	http bool   // an HTTP task: its output is the response body
}

// wfConv converts one workflow.
type wfConv struct {
	c    *converter
	wf   *WorkflowDef
	base string
	refs map[string]refInfo
	used map[string]bool
	ptrs map[string]string
	name string
	// output replaces the flow output (a final TERMINATE's workflowOutput).
	output any
	// problems0 is the number of problems before this workflow.
	problems0 int
	// loops holds the DO_WHILE refs being converted (their bodies may read
	// ${ref.output.iteration}).
	loops map[string]bool
	// container maps a task inside a SWITCH case or DO_WHILE body to that
	// SWITCH or DO_WHILE; lastIn says it is the last task there.
	container map[string]string
	lastIn    map[string]bool
	// inside counts the SWITCHes and DO_WHILEs being converted.
	inside map[string]int
	// atOutput is set while the workflow's outputParameters are rewritten
	// (a flow's output sees the refs inside decision cases).
	atOutput bool
	// loopRefs holds every DO_WHILE's ref.
	loopRefs map[string]bool
}

func (w *wfConv) problem(ptr, format string, args ...any) {
	w.c.problemAt(w.c.src, ptr, format, args...)
}

func (w *wfConv) note(ptr, format string, args ...any) {
	w.c.noteAt(w.c.src, ptr, format, args...)
}

var reservedRefs = map[string]bool{"flow": true, "item": true, "index": true, "iteration": true, "secrets": true, "env": true}

// RefName is the Weft ref of a Conductor taskReferenceName (unless two
// references of one workflow would meet: the second then gets a suffix,
// and a note says so).
func RefName(cref string) string {
	r := refBadRE.ReplaceAllString(strings.ToLower(cref), "_")
	r = strings.Trim(r, "_")
	if r == "" || r[0] < 'a' || r[0] > 'z' {
		r = "t_" + r
	}
	if len(r) > 90 {
		r = r[:90]
	}
	if _, fn := builtin.Index[r]; reservedRefs[r] || exprKeywords[r] || fn {
		r += "_task"
	}
	return r
}

// newRef picks the Weft ref for a Conductor taskReferenceName.
func (w *wfConv) newRef(cref string) string {
	r := RefName(cref)
	base := r
	for i := 2; w.used[r]; i++ {
		r = base + "_" + itoa(i)
	}
	w.used[r] = true
	return r
}

// collect assigns a Weft ref to every task reference, before any
// expression is rewritten (Conductor may read a task defined later in
// the document, such as a loop condition reading its body).
func (w *wfConv) collect(tasks []*WorkflowTask, ptr string) {
	var lastFork string
	for i, t := range tasks {
		p := ptr + "/" + itoa(i)
		if t == nil {
			continue
		}
		if t.TaskReferenceName == "" {
			w.problem(p+"/taskReferenceName", "every task needs a taskReferenceName")
			continue
		}
		if _, dup := w.refs[t.TaskReferenceName]; dup {
			w.problem(p+"/taskReferenceName", "taskReferenceName %q is used twice; make it unique", t.TaskReferenceName)
			continue
		}
		typ := taskType(t)
		if typ == "JOIN" && lastFork != "" {
			w.refs[t.TaskReferenceName] = refInfo{weft: lastFork}
			lastFork = ""
			continue
		}
		r := w.newRef(t.TaskReferenceName)
		if r != t.TaskReferenceName {
			w.note(p+"/taskReferenceName", "taskReferenceName %q is ref %q in Weft (refs are lower case letters, digits and _)", t.TaskReferenceName, r)
		}
		w.refs[t.TaskReferenceName] = refInfo{weft: r, http: typ == "HTTP"}
		lastFork = ""
		if typ == "FORK_JOIN" || typ == "FORK_JOIN_DYNAMIC" {
			lastFork = r
		}
		for name, cs := range t.DecisionCases {
			w.collect(cs, p+"/decisionCases/"+escape(name))
			w.contain(t.TaskReferenceName, cs)
		}
		w.collect(t.DefaultCase, p+"/defaultCase")
		w.contain(t.TaskReferenceName, t.DefaultCase)
		for b, br := range t.ForkTasks {
			w.collect(br, p+"/forkTasks/"+itoa(b))
		}
		w.collect(t.LoopOver, p+"/loopOver")
		w.contain(t.TaskReferenceName, t.LoopOver)
		if typ == "DO_WHILE" {
			w.loopRefs[t.TaskReferenceName] = true
		}
	}
}

// contain records that tasks (a case or loop body) sit inside owner.
func (w *wfConv) contain(owner string, tasks []*WorkflowTask) {
	for i, t := range tasks {
		if t == nil || t.TaskReferenceName == "" {
			continue
		}
		w.container[t.TaskReferenceName] = owner
		if i == len(tasks)-1 || (i == len(tasks)-2 && isTerminate(tasks[i+1], "COMPLETED")) {
			w.lastIn[t.TaskReferenceName] = true
		}
	}
}

func taskType(t *WorkflowTask) string {
	if t.Type == "" {
		return "SIMPLE"
	}
	return strings.ToUpper(t.Type)
}

// workflow converts one workflow definition.
func (c *converter) workflow(wf *WorkflowDef, base string) *Flow {
	w := &wfConv{c: c, wf: wf, base: base, refs: map[string]refInfo{}, used: map[string]bool{}, ptrs: map[string]string{}, problems0: len(c.res.Problems), loops: map[string]bool{},
		container: map[string]string{}, lastIn: map[string]bool{}, inside: map[string]int{}, loopRefs: map[string]bool{}}
	if wf.Name == "" {
		w.problem(base+"/name", "the workflow has no name")
		return nil
	}
	w.name = weftName(wf.Name)
	if w.name != wf.Name {
		w.note(base+"/name", "workflow %q is flow %q in Weft", wf.Name, w.name)
	}
	if len(wf.Tasks) == 0 {
		w.problem(base+"/tasks", "the workflow has no tasks")
		return nil
	}
	w.collect(wf.Tasks, base+"/tasks")
	bp := map[string]any{"name": w.name, "title": wf.Name}
	if wf.Description != "" {
		bp["description"] = wf.Description
	}
	if len(wf.InputParameters) > 0 {
		props := map[string]any{}
		for _, p := range wf.InputParameters {
			props[p] = map[string]any{}
		}
		bp["input_schema"] = map[string]any{"type": "object", "properties": props}
	}
	nodes := w.seq(wf.Tasks, base+"/tasks", "/blocks", true)
	if len(nodes) == 0 && len(c.res.Problems) == w.problems0 {
		w.problem(base+"/tasks", "nothing is left to run once converted (a TERMINATE COMPLETED alone ends at once); give the workflow a task that does work")
	}
	bp["blocks"] = nodes
	switch {
	case len(wf.OutputParameters) > 0:
		w.atOutput = true
		bp["output"] = w.rewrite(wf.OutputParameters, base+"/outputParameters")
		w.atOutput = false
		w.ptrs["/output"] = base + "/outputParameters"
	case w.output != nil:
		bp["output"] = w.output
	case len(nodes) > 0:
		// Conductor's workflow output is then the last task's output.
		last := nodes[len(nodes)-1].(map[string]any)
		if last["type"] != flows.TypeFail {
			bp["output"] = "${" + last["ref"].(string) + ".output}"
		}
	}
	if wf.TimeoutSeconds > 0 {
		if wf.TimeoutPolicy == "ALERT_ONLY" {
			w.note(base+"/timeoutPolicy", "timeoutPolicy ALERT_ONLY has no Weft counterpart; the flow gets no run timeout")
		} else {
			bp["timeout"] = seconds(wf.TimeoutSeconds)
		}
	}
	if wf.FailureWorkflow != "" {
		bp["on_failure"] = []any{map[string]any{
			"ref": "failure_workflow", "type": flows.TypeSubflow, "flow": weftName(wf.FailureWorkflow),
			"input": map[string]any{"workflowId": "${flow.run_id}", "reason": "${flow.error.message}", "workflowInput": "${flow.input}"},
		}}
		w.ptrs["/on_failure/0"] = base + "/failureWorkflow"
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	_ = enc.Encode(bp)
	f := Flow{Name: w.name, JSON: buf.Bytes(), From: wf.Name, Source: c.src, Base: base, ptrs: w.ptrs, broken: len(c.res.Problems) > w.problems0}
	c.res.Flows = append(c.res.Flows, f)
	return &c.res.Flows[len(c.res.Flows)-1]
}

func isTerminate(t *WorkflowTask, status string) bool {
	if t == nil || taskType(t) != "TERMINATE" {
		return false
	}
	s, _ := t.InputParameters["terminationStatus"].(string)
	return strings.ToUpper(s) == status
}

// seq converts a list of tasks; cptr and wptr are the pointers of the list
// in the Conductor document and in the blueprint.
func (w *wfConv) seq(tasks []*WorkflowTask, cptr, wptr string, top bool) []any {
	out := []any{}
	for i := 0; i < len(tasks); i++ {
		t := tasks[i]
		p := cptr + "/" + itoa(i)
		if t == nil {
			w.problem(p, "a task must be an object")
			continue
		}
		typ := taskType(t)
		if typ == "TERMINATE" && isTerminate(t, "COMPLETED") {
			if top && i == len(tasks)-1 {
				if wo, ok := t.InputParameters["workflowOutput"]; ok && len(w.wf.OutputParameters) == 0 {
					w.output = w.rewrite(wo, p+"/inputParameters/workflowOutput")
				}
				if len(out) == 0 {
					// The workflow does nothing: a no-op keeps it a flow.
					if info, ok := w.refs[t.TaskReferenceName]; ok {
						w.ptrs[wptr+"/0"] = p
						out = append(out, map[string]any{"ref": info.weft, "type": flows.TypeLambda, "expr": "{}"})
						w.note(p, "a workflow of one TERMINATE COMPLETED becomes a flow of one lambda that does nothing")
					}
					continue
				}
				w.note(p, "a TERMINATE with status COMPLETED at the end of the workflow is dropped: the flow ends there anyway")
				continue
			}
			w.problem(p, "a TERMINATE with status COMPLETED ends the workflow here; Weft has no early successful end: put the tasks that follow into the other SWITCH cases instead (a last TERMINATE in a SWITCH case at the top level is handled so)")
			continue
		}
		if (typ == "SWITCH" || typ == "DECISION") && top {
			// A SWITCH whose cases end with TERMINATE COMPLETED: the
			// tasks after the SWITCH move into the one case that goes on.
			var goOn []string
			ends := 0
			for name, cs := range t.DecisionCases {
				if n := len(cs); n > 0 && isTerminate(cs[n-1], "COMPLETED") {
					ends++
				} else {
					goOn = append(goOn, name)
				}
			}
			dn := len(t.DefaultCase)
			defaultEnds := dn > 0 && isTerminate(t.DefaultCase[dn-1], "COMPLETED")
			if defaultEnds {
				ends++
			} else {
				goOn = append(goOn, "")
			}
			if ends > 0 {
				rest := tasks[i+1:]
				if len(goOn) != 1 {
					w.problem(p, "cases of this %s end with TERMINATE COMPLETED while %d other cases go on; Weft has no early successful end: keep one case going on, or move the following tasks into each case", typ, len(goOn))
				}
				node := w.decision(t, p, wptr+"/"+itoa(len(out)), rest, goOn)
				out = append(out, node)
				break
			}
		}
		if typ == "JOIN" {
			if info, ok := w.refs[t.TaskReferenceName]; ok && i > 0 && info.weft == w.refs[tasks[i-1].TaskReferenceName].weft {
				continue // folded into the fork or map before it
			}
			w.problem(p, "a JOIN must follow a FORK_JOIN or FORK_JOIN_DYNAMIC directly")
			continue
		}
		if (typ == "FORK_JOIN" || typ == "FORK_JOIN_DYNAMIC") && (i+1 >= len(tasks) || tasks[i+1] == nil || taskType(tasks[i+1]) != "JOIN") {
			w.problem(p, "a %s must be followed by its JOIN", typ)
		}
		if typ == "FORK_JOIN" && i+1 < len(tasks) && tasks[i+1] != nil && taskType(tasks[i+1]) == "JOIN" {
			w.checkJoin(t, tasks[i+1], cptr+"/"+itoa(i+1))
		}
		if n := w.task(t, typ, p, wptr+"/"+itoa(len(out))); n != nil {
			out = append(out, n)
		}
	}
	return out
}

func (w *wfConv) checkJoin(fork, join *WorkflowTask, jptr string) {
	if len(join.JoinOn) == 0 {
		return
	}
	on := map[string]bool{}
	for _, r := range join.JoinOn {
		on[r] = true
	}
	for _, br := range fork.ForkTasks {
		if len(br) > 0 && br[len(br)-1] != nil && !on[br[len(br)-1].TaskReferenceName] {
			w.note(jptr+"/joinOn", "Weft's fork waits for every branch; joinOn does not name %q, whose branch is waited for too", br[len(br)-1].TaskReferenceName)
		}
	}
}

// task converts one task into a blueprint node.
func (w *wfConv) task(t *WorkflowTask, typ, p, wp string) map[string]any {
	info, ok := w.refs[t.TaskReferenceName]
	if !ok {
		return nil // collect reported it
	}
	n := map[string]any{"ref": info.weft}
	w.ptrs[wp] = p
	if t.Optional {
		n["optional"] = true
	}
	in := func() map[string]any {
		m, _ := w.rewrite(t.InputParameters, p+"/inputParameters").(map[string]any)
		if m == nil {
			m = map[string]any{}
		}
		return m
	}
	switch typ {
	case "SIMPLE":
		if t.Name == "" {
			w.problem(p+"/name", "a SIMPLE task needs a name (its task type)")
			return nil
		}
		td := t.TaskDefinition
		if td == nil {
			td = w.c.taskDefs[t.Name]
		}
		if td == nil {
			w.note(p+"/name", "no task definition for %q: block %q gets Weft's defaults (one attempt, no timeout)", t.Name, weftName(t.Name))
		}
		n["block"] = w.c.workerBlock(t.Name, td, p+"/name")
		n["input"] = in()
	case "HTTP":
		return w.http(t, n, p)
	case "SWITCH", "DECISION":
		return w.decision(t, p, wp, nil, nil)
	case "FORK_JOIN":
		if len(t.ForkTasks) == 0 {
			w.problem(p+"/forkTasks", "a FORK_JOIN needs forkTasks (a list of branches)")
			return nil
		}
		n["type"] = flows.TypeFork
		var branches []any
		for b, br := range t.ForkTasks {
			if len(br) == 0 {
				w.problem(p+"/forkTasks/"+itoa(b), "an empty branch; remove it")
				continue
			}
			branches = append(branches, w.seq(br, p+"/forkTasks/"+itoa(b), wp+"/branches/"+itoa(len(branches)), false))
		}
		n["branches"] = branches
	case "FORK_JOIN_DYNAMIC":
		return w.dynamicFork(t, n, p, wp)
	case "DO_WHILE":
		return w.loop(t, n, p, wp)
	case "SUB_WORKFLOW":
		if t.SubWorkflow == nil || t.SubWorkflow.Name == "" {
			w.problem(p+"/subWorkflowParam", "a SUB_WORKFLOW needs subWorkflowParam.name")
			return nil
		}
		n["type"] = flows.TypeSubflow
		n["flow"] = weftName(t.SubWorkflow.Name)
		n["input"] = in()
		if t.SubWorkflow.Version > 0 {
			w.note(p+"/subWorkflowParam/version", "the subflow starts the latest version of %q: Weft numbers imported versions itself", t.SubWorkflow.Name)
		}
	case "WAIT", "HUMAN":
		return w.wait(t, typ, n, p)
	case "INLINE", "LAMBDA":
		params := map[string]any{}
		for k, v := range t.InputParameters {
			if k != "evaluatorType" && k != "expression" && k != "scriptExpression" {
				params[k] = v
			}
		}
		ev, _ := t.InputParameters["evaluatorType"].(string)
		src, _ := t.InputParameters["expression"].(string)
		if typ == "LAMBDA" {
			src, _ = t.InputParameters["scriptExpression"].(string)
		}
		if ev != "" && ev != "javascript" && ev != "graaljs" && ev != "value-param" {
			w.problem(p+"/inputParameters/evaluatorType", "evaluatorType %q is not supported; use javascript", ev)
			return nil
		}
		var e string
		var err error
		if ev == "value-param" {
			e, err = w.asExpr(t.InputParameters[src])
		} else {
			e, err = w.jsToExpr(src, jsScope{params: params})
		}
		if err == nil {
			err = w.compiles(e)
		}
		if err != nil {
			w.problem(p+"/inputParameters/expression", "%v", err)
			return nil
		}
		n["type"] = flows.TypeLambda
		n["expr"] = `{"result": ` + e + `}`
	case "TERMINATE":
		n["type"] = flows.TypeFail
		msg := "terminated"
		if r, ok := t.InputParameters["terminationReason"].(string); ok && r != "" {
			msg = w.rewriteString(r, p+"/inputParameters/terminationReason")
		}
		n["message"] = msg
	case "NOOP":
		n["type"] = flows.TypeLambda
		n["expr"] = "{}"
	default:
		hint := unsupported[typ]
		if hint == "" {
			hint = "Weft has no counterpart; implement it as a worker (SIMPLE task) or remove it"
		}
		w.problem(p+"/type", "task type %q cannot be converted: %s", t.Type, hint)
		return nil
	}
	return n
}

var unsupported = map[string]string{
	"JSON_JQ_TRANSFORM": "Weft has no jq; write the transformation as an INLINE task (a lambda block in expr-lang) or in a worker",
	"SET_VARIABLE":      "Weft has no workflow variables; pass the value as a task's output and read ${ref.output...}",
	"EVENT":             "Weft has no event queues; publish from a worker (SIMPLE task)",
	"KAFKA_PUBLISH":     "publish from a worker (SIMPLE task)",
	"START_WORKFLOW":    "start the other flow from a worker with POST /api/v1/flows/{name}/runs, or use SUB_WORKFLOW to wait for it",
	"DYNAMIC":           "the task type is chosen at run time; use a SWITCH with one case per task type",
	"EXCLUSIVE_JOIN":    "use a FORK_JOIN with a JOIN (Weft's fork waits for every branch)",
	"JOIN":              "a JOIN must follow a FORK_JOIN or FORK_JOIN_DYNAMIC directly",
	"BUSINESS_RULE":     "evaluate the rules in a worker",
	"USER_DEFINED":      "implement it as a worker (SIMPLE task)",
}
