package blocks

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/weftlabs/weft/blocks/jsoncheck"
)

// SchemaJSON is the JSON Schema (draft-07) of a block definition, served at
// /api/v1/schema/block.json.
//
//go:embed schema/block.json
var SchemaJSON []byte

// ValidationError is one problem in a block definition or blueprint, with
// its JSON pointer and, when the text is known, its line and column.
type ValidationError = jsoncheck.ValidationError

// Problems unpacks an error returned by Parse into its validation errors.
func Problems(err error) []*ValidationError { return jsoncheck.Problems(err) }

// Explanations of the patterns used by the shipped schemas.
var patternHelp = map[string]string{
	`^[a-z][a-z0-9_.-]*$`: "invalid name %q: use lowercase letters, digits, '_', '.' and '-', starting with a letter (such as \"model.train\")",
	`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$|^[0-9]+(\.[0-9]+)?d$`: "invalid duration %q: write a number with a unit, such as \"30s\", \"5m\", \"2h\" or \"1d\"",
	`^[a-z][a-z0-9_]*$`:             "invalid name %q: use lowercase letters, digits and '_', starting with a letter",
	`^[A-Za-z0-9][A-Za-z0-9_.:-]*$`: "invalid queue %q: use letters, digits, '_', '.', ':' and '-'",
}

// PatternHelp returns the explanations for the patterns of the shipped
// schemas, for packages that embed them in their own schema.
func PatternHelp() map[string]string {
	out := make(map[string]string, len(patternHelp))
	for k, v := range patternHelp {
		out[k] = v
	}
	return out
}

func blockSchema() *jsoncheck.Schema {
	blockSchemaOnce.Do(func() { blockSchemaVal = jsoncheck.MustCompile(SchemaJSON, patternHelp) })
	return blockSchemaVal
}

// The compiled form of the embedded schema is derived from a constant and
// never changes: it is computed once, lazily.
var (
	blockSchemaOnce sync.Once
	blockSchemaVal  *jsoncheck.Schema
)

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

var secretRef = regexp.MustCompile(`\$\{\s*secrets\.[A-Za-z_][A-Za-z0-9_]*\s*\}`)

// Parse parses and validates a block definition. On failure the error joins
// every *ValidationError found, each with pointer and line:col.
func Parse(data []byte) (*Definition, error) {
	ix, err := jsoncheck.NewIndex(data)
	if err != nil {
		return nil, err
	}
	if t := bytes.TrimSpace(data); len(t) == 0 || t[0] != '{' {
		ve := &ValidationError{Msg: "a block definition must be a JSON object"}
		ix.Locate([]*ValidationError{ve})
		return nil, ve
	}
	errs := blockSchema().Validate(data, "")
	errs = append(errs, ix.DuplicateKeys()...)
	var d Definition
	clean := data
	if len(errs) > 0 {
		if pruned, perr := jsoncheck.Prune(data, errs); perr == nil {
			clean = pruned
		}
	}
	if uerr := json.Unmarshal(clean, &d); uerr != nil {
		if len(errs) == 0 {
			errs = append(errs, &ValidationError{Msg: uerr.Error()})
		}
		ix.Locate(errs)
		return nil, jsoncheck.Join(errs)
	}
	errs = append(errs, d.check()...)
	ix.Locate(errs)
	if len(errs) > 0 {
		return nil, jsoncheck.Join(errs)
	}
	d.cache = &schemaCache{}
	return &d, nil
}

// check runs the semantic checks the schema cannot express.
func (d *Definition) check() []*ValidationError {
	var errs []*ValidationError
	fail := func(ptr, format string, args ...any) {
		errs = append(errs, &ValidationError{Pointer: ptr, Msg: fmt.Sprintf(format, args...)})
	}
	switch d.Dispatch.Kind {
	case DispatchHTTP:
		if d.Dispatch.URL == "" {
			fail("/dispatch", "an http block needs \"url\", such as \"http://trainer:8081/train\"")
		} else if msg := checkURL(d.Dispatch.URL); msg != "" {
			fail("/dispatch/url", "%s", msg)
		}
		if d.Dispatch.Queue != "" {
			fail("/dispatch/queue", "\"queue\" applies to worker blocks only; remove it or use kind \"worker\"")
		}
		for _, k := range sortedKeys(d.Dispatch.Headers) {
			if msg := checkSecrets(d.Dispatch.Headers[k]); msg != "" {
				fail("/dispatch/headers/"+jsoncheck.Escape(k), "%s", msg)
			}
		}
	case DispatchKubernetes:
		d.checkKubernetes(fail)
	case DispatchWorker, DispatchCommand:
		if IsHTTPQueue(d.Dispatch.Queue) {
			fail("/dispatch/queue", "queue %q is reserved: queues starting %q belong to HTTP blocks", d.Dispatch.Queue, httpQueuePrefix)
		}
		if IsKubernetesQueue(d.Dispatch.Queue) {
			fail("/dispatch/queue", "queue %q is reserved: queues starting %q belong to kubernetes blocks", d.Dispatch.Queue, kubeQueuePrefix)
		}
		for k, set := range map[string]bool{"url": d.Dispatch.URL != "", "method": d.Dispatch.Method != "", "headers": d.Dispatch.Headers != nil, "body": d.Dispatch.Body != ""} {
			if set {
				fail("/dispatch/"+k, "%q applies to http blocks only; remove it or use kind \"http\"", k)
			}
		}
	}
	switch d.Dispatch.Kind {
	case DispatchCommand:
		errs = append(errs, d.Dispatch.checkCommand()...)
	case DispatchKubernetes:
		// command and env are the container's entrypoint and environment
		errs = append(errs, d.Dispatch.commandFieldsOnly("command", "env")...)
	default:
		errs = append(errs, d.Dispatch.commandFieldsOnly()...)
	}
	if d.Dispatch.Kind != DispatchKubernetes {
		for k, set := range d.Dispatch.kubeOnly() {
			if set {
				fail("/dispatch/"+k, "%q applies to kubernetes blocks only; remove it or use kind \"kubernetes\"", k)
			}
		}
	}
	if r := d.Retry; r != nil && r.MaxInterval > 0 && r.InitialInterval > r.MaxInterval {
		fail("/retry/max_interval", "max_interval (%s) is shorter than initial_interval (%s)", r.MaxInterval, r.InitialInterval)
	}
	for _, s := range []struct {
		ptr string
		raw json.RawMessage
	}{{"/input_schema", d.InputSchema}, {"/output_schema", d.OutputSchema}} {
		if len(s.raw) == 0 {
			continue
		}
		errs = append(errs, CheckUserSchema(s.raw, s.ptr)...)
	}
	sort.SliceStable(errs, func(i, j int) bool { return errs[i].Pointer < errs[j].Pointer })
	return errs
}

// checkCommand checks a command block's dispatch: a command or a script
// with its interpreter, and environment names that do not shadow Weft's.
func (d *Dispatch) checkCommand() []*ValidationError {
	var errs []*ValidationError
	fail := func(ptr, format string, args ...any) {
		errs = append(errs, &ValidationError{Pointer: ptr, Msg: fmt.Sprintf(format, args...)})
	}
	switch {
	case len(d.Command) > 0 && d.Script != "":
		fail("/dispatch/script", "a command block runs \"command\" or \"script\", not both; remove one")
	case len(d.Command) == 0 && d.Script == "":
		fail("/dispatch", "a command block needs \"command\" (such as [\"python3\", \"train.py\"]) or \"script\" with \"interpreter\"")
	case len(d.Command) > 0:
		if strings.TrimSpace(d.Command[0]) == "" {
			fail("/dispatch/command/0", "the program to run is empty: name it, such as \"python3\"")
		}
		if len(d.Interpreter) > 0 {
			fail("/dispatch/interpreter", "\"interpreter\" runs a \"script\"; remove it, or put the program first in \"command\"")
		}
	case len(d.Interpreter) == 0:
		fail("/dispatch", "a script needs \"interpreter\", such as [\"bash\", \"-eu\"] or [\"python3\"]")
	}
	for _, k := range sortedKeys(d.Env) {
		switch {
		case !envName.MatchString(k):
			fail("/dispatch/env/"+jsoncheck.Escape(k), "invalid environment variable name %q: use letters, digits and '_', not starting with a digit", k)
		case strings.HasPrefix(strings.ToUpper(k), "WEFT_"):
			fail("/dispatch/env/"+jsoncheck.Escape(k), "%s: names starting WEFT_ are set by the runner; choose another name", k)
		}
	}
	return errs
}

// commandFieldsOnly refuses the command fields on other kinds, but for
// those named in allowed.
func (d *Dispatch) commandFieldsOnly(allowed ...string) []*ValidationError {
	var errs []*ValidationError
	for _, f := range []struct {
		name string
		set  bool
	}{{"command", d.Command != nil}, {"script", d.Script != ""}, {"interpreter", d.Interpreter != nil}, {"workdir", d.Workdir != ""},
		{"env", d.Env != nil}, {"fatal_exit_codes", d.FatalExitCodes != nil}} {
		if f.set && !slices.Contains(allowed, f.name) {
			errs = append(errs, &ValidationError{Pointer: "/dispatch/" + f.name,
				Msg: fmt.Sprintf("%q applies to command blocks only; remove it or use kind \"command\"", f.name)})
		}
	}
	return errs
}

// CheckUserSchema checks that raw is a JSON Schema Weft can use: only local
// $ref, a known draft, and compiling without error. ptr is where it sits.
func CheckUserSchema(raw json.RawMessage, ptr string) []*ValidationError {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return []*ValidationError{{Pointer: ptr, Msg: "not valid JSON: " + err.Error()}}
	}
	if _, ok := v.(bool); ok {
		return nil
	}
	if errs := jsoncheck.LocalRefsOnly(v, ptr); len(errs) > 0 {
		return errs
	}
	if errs := jsoncheck.SchemaShape(v, ptr); len(errs) > 0 {
		return errs
	}
	if errs := jsoncheck.RefCycles(v, ptr); len(errs) > 0 {
		return errs
	}
	if _, err := jsoncheck.Compile(raw); err != nil {
		return []*ValidationError{{Pointer: ptr, Msg: "not a valid JSON Schema: " + firstLine(err.Error())}}
	}
	return nil
}

func checkURL(raw string) string {
	if m := checkSecrets(raw); m != "" {
		return m
	}
	if secretRef.MatchString(raw) {
		if strings.HasPrefix(raw, "${") || strings.HasPrefix(raw, "http://") || strings.HasPrefix(raw, "https://") {
			return ""
		}
		return fmt.Sprintf("url %q must start with http://, https:// or a ${secrets.NAME}", raw)
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Sprintf("url %q is not an absolute http(s) URL such as \"http://trainer:8081/train\"", raw)
	}
	return ""
}

// checkSecrets accepts ${secrets.NAME} templates only.
func checkSecrets(s string) string {
	rest := secretRef.ReplaceAllString(strings.ReplaceAll(s, "$${", ""), "")
	if strings.Contains(rest, "${") {
		return fmt.Sprintf("%q: only ${secrets.NAME} templates are allowed here", s)
	}
	return ""
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

type schemaCache struct {
	inOnce, outOnce sync.Once
	in, out         *jsoncheck.Schema
	inErr, outErr   error
}

// FieldError is one field of a step's input or output that does not fit
// the block's schema.
type FieldError struct {
	Field string // "input.dataset", "output.items[2].score"
	Msg   string // "is required"
}

// SchemaMismatchError lists every field of a value that does not fit.
type SchemaMismatchError struct {
	Fields []FieldError
}

func (e *SchemaMismatchError) Error() string {
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.Field + ": " + f.Msg
	}
	return strings.Join(parts, "; ")
}

// ValidateInput checks a step's input against input_schema. The error (a
// *SchemaMismatchError) names each field, such as "input.dataset: is
// required". The compiled schema is cached; it is safe for concurrent use.
func (d *Definition) ValidateInput(v any) error {
	s, err := d.compiled("input")
	if err != nil || s == nil {
		return err
	}
	return mismatch("input", s.ValidateValue(v, ""))
}

// ValidateOutput checks a step's output against output_schema, like
// ValidateInput.
func (d *Definition) ValidateOutput(v any) error {
	s, err := d.compiled("output")
	if err != nil || s == nil {
		return err
	}
	return mismatch("output", s.ValidateValue(v, ""))
}

func (d *Definition) compiled(which string) (*jsoncheck.Schema, error) {
	raw := d.InputSchema
	if which == "output" {
		raw = d.OutputSchema
	}
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		return nil, nil
	}
	build := func() (*jsoncheck.Schema, error) {
		if errs := CheckUserSchema(raw, "/"+which+"_schema"); len(errs) > 0 {
			return nil, fmt.Errorf("block %s: %s_schema: %s", d.Name, which, errs[0].Msg)
		}
		return jsoncheck.Compile(wrapBool(raw))
	}
	c := d.cache
	if c == nil {
		return build()
	}
	if which == "input" {
		c.inOnce.Do(func() { c.in, c.inErr = build() })
		return c.in, c.inErr
	}
	c.outOnce.Do(func() { c.out, c.outErr = build() })
	return c.out, c.outErr
}

// wrapBool turns the boolean schemas true/false into objects.
func wrapBool(raw json.RawMessage) []byte {
	switch string(bytes.TrimSpace(raw)) {
	case "true":
		return []byte(`{}`)
	case "false":
		return []byte(`{"not": {}}`)
	}
	return raw
}

func mismatch(which string, errs []*ValidationError) error {
	if len(errs) == 0 {
		return nil
	}
	out := &SchemaMismatchError{}
	for _, e := range errs {
		segs := jsoncheck.Split(e.Pointer)
		msg := e.Msg
		if key, ok := strings.CutPrefix(msg, "missing required key "); ok {
			if k, err := strconv.Unquote(key); err == nil {
				segs = append(segs, k)
				msg = "is required"
			}
		}
		out.Fields = append(out.Fields, FieldError{Field: fieldPath(which, segs), Msg: msg})
	}
	sort.SliceStable(out.Fields, func(i, j int) bool { return out.Fields[i].Field < out.Fields[j].Field })
	return out
}

func fieldPath(root string, segs []string) string {
	var b strings.Builder
	b.WriteString(root)
	for _, s := range segs {
		if _, err := strconv.Atoi(s); err == nil {
			b.WriteString("[" + s + "]")
		} else {
			b.WriteString("." + s)
		}
	}
	return b.String()
}

// ErrUnknownBlock is returned by a MemCatalog for a name or version it does
// not hold.
var ErrUnknownBlock = errors.New("unknown block")

// MemCatalog is a Catalog held in memory, for tests and for validating a
// folder of definitions. It is safe for concurrent use.
type MemCatalog struct {
	mu   sync.RWMutex
	defs map[string]map[int]*Definition
}

// NewMemCatalog returns a catalog holding defs (see Add).
func NewMemCatalog(defs ...*Definition) (*MemCatalog, error) {
	c := &MemCatalog{defs: map[string]map[int]*Definition{}}
	for _, d := range defs {
		if err := c.Add(d); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// Add stores d. A definition without version gets the next number; adding
// a version twice is an error.
func (c *MemCatalog) Add(d *Definition) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.defs == nil {
		c.defs = map[string]map[int]*Definition{}
	}
	vs := c.defs[d.Name]
	if vs == nil {
		vs = map[int]*Definition{}
		c.defs[d.Name] = vs
	}
	if d.Version == 0 {
		d.Version = latest(vs) + 1
	}
	if _, dup := vs[d.Version]; dup {
		return fmt.Errorf("block %s version %d is defined twice", d.Name, d.Version)
	}
	vs[d.Version] = d
	return nil
}

// Block returns the definition name@version; version 0 means the latest.
func (c *MemCatalog) Block(name string, version int) (*Definition, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	vs := c.defs[name]
	if version == 0 {
		version = latest(vs)
	}
	d, ok := vs[version]
	if !ok {
		if len(vs) == 0 {
			return nil, fmt.Errorf("block %q: %w", name, ErrUnknownBlock)
		}
		return nil, fmt.Errorf("block %q has no version %d (latest is %d): %w", name, version, latest(vs), ErrUnknownBlock)
	}
	return d, nil
}

// Names lists the block names held, sorted.
func (c *MemCatalog) Names() []string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]string, 0, len(c.defs))
	for k := range c.defs {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func latest(vs map[int]*Definition) int {
	m := 0
	for v := range vs {
		m = max(m, v)
	}
	return m
}

var _ Catalog = (*MemCatalog)(nil)

// CheckInput validates v against input_schema and returns the problems with
// JSON pointers relative to the input (such as "/dataset"). Flows use it to
// check constant inputs at upload.
func (d *Definition) CheckInput(v any) []*ValidationError {
	s, err := d.compiled("input")
	if err != nil || s == nil {
		return nil
	}
	return s.ValidateValue(v, "")
}

// Checker validates values against one user-supplied JSON Schema, naming
// each field that does not fit (such as "input.dataset: is required"). It
// is safe for concurrent use.
type Checker struct {
	root   string
	schema *jsoncheck.Schema
}

// NewChecker compiles schema for values called root ("input", "output").
// An empty schema accepts everything.
func NewChecker(root string, schema json.RawMessage) (*Checker, error) {
	c := &Checker{root: root}
	if len(bytes.TrimSpace(schema)) == 0 || string(bytes.TrimSpace(schema)) == "null" {
		return c, nil
	}
	if errs := CheckUserSchema(schema, ""); len(errs) > 0 {
		return nil, fmt.Errorf("%s schema: %s", root, errs[0].Error())
	}
	s, err := jsoncheck.Compile(wrapBool(schema))
	if err != nil {
		return nil, fmt.Errorf("%s schema: %w", root, err)
	}
	c.schema = s
	return c, nil
}

// Validate checks v; the error is a *SchemaMismatchError.
func (c *Checker) Validate(v any) error {
	if c == nil || c.schema == nil {
		return nil
	}
	return mismatch(c.root, c.schema.ValidateValue(v, ""))
}
