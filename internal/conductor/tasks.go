package conductor

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/weftlabs/weft/flows"
)

// The task types that take more than a mapping: HTTP, SWITCH, dynamic
// forks, DO_WHILE and WAIT/HUMAN, and the expressions they carry.

// compiles checks that e is one expr-lang expression over the names a
// workflow can see.
func (w *wfConv) compiles(e string) error {
	scope := []string{"flow", "iteration"}
	for _, r := range w.refs {
		scope = append(scope, r.weft)
	}
	if _, err := flows.CompileExpr(e, scope); err != nil {
		return fmt.Errorf("translated to %q, which does not compile: %v", e, err)
	}
	return nil
}

func (w *wfConv) http(t *WorkflowTask, n map[string]any, p string) map[string]any {
	req, _ := t.InputParameters["http_request"].(map[string]any)
	rp := p + "/inputParameters/http_request"
	if req == nil {
		req, rp = t.InputParameters, p+"/inputParameters"
	}
	uri, _ := req["uri"].(string)
	if uri == "" {
		w.problem(rp+"/uri", "an HTTP task needs http_request.uri")
		return nil
	}
	if strings.Contains(uri, "${") {
		w.problem(rp+"/uri", "the URL %q is decided at run time; a Weft http block has a fixed URL: give it a constant URL, or make the call from a worker (SIMPLE task)", uri)
		return nil
	}
	method, _ := req["method"].(string)
	if method == "" {
		method = "GET"
	}
	switch strings.ToUpper(method) {
	case "POST", "PUT", "PATCH":
	default:
		w.problem(rp+"/method", "a Weft http block sends POST, PUT or PATCH with a JSON body, not %s: make the call from a worker (SIMPLE task), or use an endpoint that takes POST", method)
		return nil
	}
	disp := map[string]any{"kind": "http", "url": uri, "method": strings.ToUpper(method), "body": "input"}
	if hs, ok := req["headers"].(map[string]any); ok && len(hs) > 0 {
		h := map[string]any{}
		for k, v := range hs {
			s, ok := v.(string)
			if !ok || strings.Contains(s, "${") {
				w.problem(rp+"/headers/"+escape(k), "header %q must be a constant string in a Weft http block (secrets as ${secrets.NAME})", k)
				continue
			}
			h[k] = s
		}
		disp["headers"] = h
	}
	name := weftName("http." + w.name + "." + n["ref"].(string))
	def := map[string]any{"name": name, "dispatch": disp, "title": "HTTP " + t.TaskReferenceName + " of " + w.wf.Name}
	if td := w.c.taskDefs[t.Name]; td != nil && t.Name != "" {
		applyTaskDef(def, td, func(format string, args ...any) { w.note(p, format, args...) })
	}
	w.c.addBlock(name, "HTTP", def, p, w.wf.Name)
	n["block"] = name
	input := map[string]any{}
	switch b := req["body"].(type) {
	case nil:
	case map[string]any:
		input, _ = w.rewrite(b, rp+"/body").(map[string]any)
	default:
		w.problem(rp+"/body", "a Weft http block sends a JSON object; wrap the body in an object")
	}
	n["input"] = input
	for _, k := range []string{"connectionTimeOut", "readTimeOut"} {
		if v, ok := req[k].(float64); ok && v > 0 {
			n["timeout"] = strconv.FormatInt(int64(v), 10) + "ms"
		}
	}
	return n
}

// decision converts a SWITCH or DECISION. rest (tasks after it that move
// into the one case in goOn, "" being the default) is for SWITCHes whose
// other cases end with TERMINATE COMPLETED.
func (w *wfConv) decision(t *WorkflowTask, p, wp string, rest []*WorkflowTask, goOn []string) map[string]any {
	info := w.refs[t.TaskReferenceName]
	w.ptrs[wp] = p
	n := map[string]any{"ref": info.weft, "type": flows.TypeDecision}
	var e string
	var err error
	ev := t.EvaluatorType
	src := t.Expression
	if taskType(t) == "DECISION" {
		ev, src = "value-param", t.CaseValueParam
		if t.CaseExpression != "" {
			ev, src = "javascript", t.CaseExpression
		}
	}
	switch ev {
	case "value-param", "":
		if _, ok := t.InputParameters[src]; !ok {
			w.problem(p+"/expression", "the value-param %q is not one of the task's inputParameters", src)
			return n
		}
		e, err = w.asExpr(t.InputParameters[src])
	case "javascript", "graaljs":
		e, err = w.jsToExpr(src, jsScope{params: t.InputParameters})
	default:
		err = fmt.Errorf("evaluatorType %q is not supported; use value-param or javascript", ev)
	}
	if err == nil {
		e = "string(" + e + ")"
		err = w.compiles(e)
	}
	if err != nil {
		w.problem(p+"/expression", "%v", err)
		return n
	}
	n["expr"] = e
	w.inside[t.TaskReferenceName]++
	defer func() { w.inside[t.TaskReferenceName]-- }()
	cases := map[string]any{}
	for name, cs := range t.DecisionCases {
		cp := p + "/decisionCases/" + escape(name)
		tasks := cs
		if len(rest) > 0 && len(goOn) == 1 && goOn[0] == name {
			tasks = append(append([]*WorkflowTask{}, cs...), rest...)
		}
		cases[name] = w.caseSeq(tasks, len(cs), cp, p, wp+"/cases/"+escape(name))
	}
	if len(cases) == 0 {
		w.problem(p+"/decisionCases", "a %s needs at least one case", taskType(t))
	}
	n["cases"] = cases
	dtasks := t.DefaultCase
	if len(rest) > 0 && len(goOn) == 1 && goOn[0] == "" {
		dtasks = append(append([]*WorkflowTask{}, dtasks...), rest...)
	}
	// Conductor goes on when no case matches; Weft fails without a default.
	n["default"] = w.caseSeq(dtasks, len(t.DefaultCase), p+"/defaultCase", p, wp+"/default")
	return n
}

// caseSeq converts a case whose first own tasks live under cp and the
// ones moved in after them in the SWITCH's parent list.
func (w *wfConv) caseSeq(tasks []*WorkflowTask, own int, cp, switchPtr, wp string) []any {
	out := w.seqNoTerminate(tasks[:own], cp, wp)
	if own < len(tasks) {
		parent := switchPtr[:strings.LastIndexByte(switchPtr, '/')]
		idx, _ := strconv.Atoi(switchPtr[strings.LastIndexByte(switchPtr, '/')+1:])
		// The moved tasks keep their pointers in the SWITCH's parent list.
		out = append(out, w.movedSeq(tasks[own:], parent, idx+1, wp, len(out))...)
	}
	return out
}

// seqNoTerminate converts a case, dropping a final TERMINATE COMPLETED.
func (w *wfConv) seqNoTerminate(tasks []*WorkflowTask, cp, wp string) []any {
	if n := len(tasks); n > 0 && isTerminate(tasks[n-1], "COMPLETED") {
		w.note(cp+"/"+itoa(n-1), "this TERMINATE COMPLETED ends the case; the tasks after the SWITCH run only in the case that goes on")
		tasks = tasks[:n-1]
	}
	return w.seq(tasks, cp, wp, false)
}

func (w *wfConv) movedSeq(tasks []*WorkflowTask, parent string, from int, wp string, at int) []any {
	var out []any
	for i, t := range tasks {
		if t == nil {
			continue
		}
		p := parent + "/" + itoa(from+i)
		typ := taskType(t)
		if typ == "JOIN" {
			continue
		}
		if n := w.task(t, typ, p, wp+"/"+itoa(at+len(out))); n != nil {
			out = append(out, n)
		}
	}
	return out
}

func (w *wfConv) dynamicFork(t *WorkflowTask, n map[string]any, p, wp string) map[string]any {
	n["type"] = flows.TypeMap
	ip := p + "/inputParameters"
	if name, ok := t.InputParameters["forkTaskName"]; ok {
		typ, _ := name.(string)
		if typ == "" || strings.Contains(typ, "${") {
			w.problem(ip+"/forkTaskName", "forkTaskName must be a constant task type: Weft's map runs one block per item")
			return nil
		}
		inputs, ok := t.InputParameters["forkTaskInputs"]
		if !ok {
			w.problem(ip, "a FORK_JOIN_DYNAMIC with forkTaskName needs forkTaskInputs (the list of inputs, one per task)")
			return nil
		}
		items, err := w.asExpr(inputs)
		if err == nil {
			err = w.compiles(items)
		}
		if err != nil {
			w.problem(ip+"/forkTaskInputs", "%v", err)
			return nil
		}
		n["items"] = items
		input := map[string]any{}
		if list, ok := inputs.([]any); ok {
			for _, it := range list {
				if m, ok := it.(map[string]any); ok {
					for k := range m {
						input[k] = "${item" + member(k) + "}"
					}
				}
			}
		} else {
			input = map[string]any{"input": "${item}", "index": "${index}"}
			w.note(ip+"/forkTaskInputs", "each %s task receives {\"input\": <its element of forkTaskInputs>, \"index\": i}: Weft's block input is an object known at upload", typ)
		}
		td := w.c.taskDefs[typ]
		do := map[string]any{"ref": w.newRef(n["ref"].(string) + "_task"), "block": w.c.workerBlock(typ, td, ip+"/forkTaskName"), "input": input}
		w.ptrs[wp+"/do/0"] = p
		n["do"] = []any{do}
		return n
	}
	tp, inp := t.DynamicTasks, t.DynamicInputs
	if tp == "" || inp == "" {
		w.problem(p, "a FORK_JOIN_DYNAMIC needs dynamicForkTasksParam and dynamicForkTasksInputParamName (or forkTaskName and forkTaskInputs in inputParameters)")
		return nil
	}
	var missing []string
	for _, k := range []string{tp, inp} {
		if _, ok := t.InputParameters[k]; !ok {
			missing = append(missing, strconv.Quote(k))
		}
	}
	if len(missing) > 0 {
		w.problem(ip, "the dynamic fork's input parameters %s are missing: inputParameters must hold the list of tasks and their inputs", strings.Join(missing, " and "))
		return nil
	}
	w.problem(p+"/dynamicForkTasksParam", "dynamicForkTasksParam picks task types at run time; Weft's map runs one block per item: use inputParameters forkTaskName (one task type) and forkTaskInputs (one input per task)")
	return nil
}

var iterBoundRE = regexp.MustCompile(`^\s*\(?\s*iteration\s*(<=?)\s*(\d+)\s*\)?\s*(&&|$)`)

func (w *wfConv) loop(t *WorkflowTask, n map[string]any, p, wp string) map[string]any {
	if len(t.LoopOver) == 0 {
		w.problem(p+"/loopOver", "a DO_WHILE needs loopOver tasks")
		return nil
	}
	if strings.TrimSpace(t.LoopCondition) == "" {
		w.problem(p+"/loopCondition", "the DO_WHILE has no loopCondition; write one, such as \"$.%s['iteration'] < 3\"", t.TaskReferenceName)
		return nil
	}
	n["type"] = flows.TypeLoop
	w.loops[t.TaskReferenceName] = true
	w.inside[t.TaskReferenceName]++
	n["do"] = w.seq(t.LoopOver, p+"/loopOver", wp+"/do", false)
	delete(w.loops, t.TaskReferenceName)
	w.inside[t.TaskReferenceName]--
	cond, err := w.jsToExpr(t.LoopCondition, jsScope{params: t.InputParameters, own: t.TaskReferenceName, taskRefs: true})
	if err == nil {
		err = w.compiles(cond)
	}
	if err != nil {
		w.problem(p+"/loopCondition", "%v", err)
		return nil
	}
	n["while"] = cond
	bound := 1000
	if m := iterBoundRE.FindStringSubmatch(cond); m != nil {
		v, _ := strconv.Atoi(m[2])
		if m[1] == "<=" {
			v++
		}
		bound = min(max(v, 1), 10000)
	} else {
		w.note(p+"/loopCondition", "Weft bounds every loop: max_iterations is set to %d; change it in the blueprint if the loop may run longer", bound)
	}
	n["max_iterations"] = bound
	return n
}

var durPartRE = regexp.MustCompile(`(?i)(\d+)\s*(days?|d|hours?|hrs?|h|minutes?|mins?|m|seconds?|secs?|s)\b`)

// conductorDuration reads "1 days 2 hours 30 minutes", "30s" and the like.
func conductorDuration(s string) (time.Duration, bool) {
	rest := strings.TrimSpace(s)
	var d time.Duration
	ms := durPartRE.FindAllStringSubmatchIndex(rest, -1)
	if len(ms) == 0 {
		return 0, false
	}
	covered := 0
	for _, m := range ms {
		if strings.TrimSpace(rest[covered:m[0]]) != "" {
			return 0, false
		}
		covered = m[1]
		n, _ := strconv.Atoi(rest[m[2]:m[3]])
		u := strings.ToLower(rest[m[4]:m[5]])
		switch u[0] {
		case 'd':
			d += time.Duration(n) * 24 * time.Hour
		case 'h':
			d += time.Duration(n) * time.Hour
		case 'm':
			d += time.Duration(n) * time.Minute
		default:
			d += time.Duration(n) * time.Second
		}
	}
	return d, strings.TrimSpace(rest[covered:]) == ""
}

func (w *wfConv) wait(t *WorkflowTask, typ string, n map[string]any, p string) map[string]any {
	n["type"] = flows.TypeWait
	ip := p + "/inputParameters"
	if typ == "WAIT" {
		if ds, ok := t.InputParameters["duration"].(string); ok {
			d, ok := conductorDuration(ds)
			if !ok || d <= 0 {
				w.problem(ip+"/duration", "duration %q is not understood; write it as \"30 seconds\", \"2 hours 10 minutes\" or \"1 days\"", ds)
				return nil
			}
			n["duration"] = d.String()
			return n
		}
		if us, ok := t.InputParameters["until"].(string); ok {
			if strings.Contains(us, "${") {
				n["until"] = w.rewriteString(us, ip+"/until")
				return n
			}
			for _, layout := range []string{"2006-01-02 15:04 MST", "2006-01-02 15:04 -0700", "2006-01-02 15:04", "2006-01-02"} {
				if at, err := time.Parse(layout, us); err == nil {
					n["until"] = at.UTC().Format(time.RFC3339)
					return n
				}
			}
			w.problem(ip+"/until", "until %q is not understood; write it as \"2026-12-31 09:00 UTC\"", us)
			return nil
		}
	}
	n["signal"] = n["ref"]
	w.note(p, "the %s task waits for signal %q: POST /api/v1/runs/{id}/signals/%s completes it", typ, n["ref"], n["ref"])
	return n
}
