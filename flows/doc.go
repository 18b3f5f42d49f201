// Package flows owns blueprints: parsing, validation (JSON Schema and
// semantics), compiling expressions once, and the immutable *Blueprint the
// engine runs.
//
// # Parsing and validation
//
// Parse (at upload) and Compile (when a stored flow is reloaded with the
// block versions it was pinned to) check a blueprint in three passes and
// report every problem at once, each a *ValidationError with a JSON
// pointer, a plain message and, from the uploaded text, line and column:
//
//  1. JSON syntax: a document that is not JSON gives one error at the
//     line:col of the fault.
//  2. The JSON Schema in SchemaJSON (draft-07, also served at
//     /api/v1/schema/flow.json): unknown keys (with a "did you mean"),
//     types, required keys per block type, ref and name patterns,
//     durations, enums. Keys that appear twice in one object are errors.
//  3. Semantics: unique refs; refs that are not names of the expression
//     environment or keywords of the language; keys that do not
//     apply to the block's type; known blocks and versions (a name without
//     @version resolves to the latest and is recorded in Blueprint.Pins;
//     name@N is exact); every expression compiles with only the names in
//     scope; constant input fields fit the block's input_schema (templated
//     fields are checked at dispatch, and a required key is satisfied by a
//     template); a wait has exactly one of duration, until or signal
//     (timeout only with signal or until); a constant until is RFC 3339;
//     a subflow does not start its own flow, here or through the stored
//     flows (CheckSubflowCycles, run at upload by the server, names the
//     cycle: subflow cycle a → b → a), and at run time subflows nest at
//     most MaxSubflowDepth (16) deep; cron triggers parse (five
//     fields or a descriptor such as @daily) and their constant input fits
//     the flow's input_schema; user schemas use only local $ref.
//
// # DAG form
//
// A list of blocks is a sequence unless a block of it has depends_on
// (even empty): then it is a DAG (*DAG on each of its nodes: the
// topological order, the sinks). Any list may be a DAG: the flow's
// blocks, a fork branch, a decision case or default, map and loop
// bodies, catch, on_failure. Each block starts once the blocks it names
// in depends_on allow it under its trigger_rule (all_success, all_done,
// all_failed, one_success, one_failed, none_failed, always; Airflow's
// meanings); blocks without dependencies start at once. Validation names
// a cycle at the list's pointer ("/blocks: cycle ingest → validate →
// ingest"), an unknown ref in depends_on (with a suggestion), a ref that
// is in another list, a block depending on itself, trigger_rule outside
// a DAG, and refs used but not depended on: all at once.
//
// # Names
//
// A ref may take the name of a function of the expression language
// (first, sum, count, max, filter, split, len...): a natural step name is
// never refused for that. Where the ref is in scope its name means the
// ref, so sum.output reads the step's output, and the function of that
// name cannot be reached there: a call such as sum([1, 2]) is an upload
// error at that expression that says to rename the ref. Where the ref is
// not in scope (blocks before it in a sequence, blocks that do not depend
// on it in a DAG, flows without it) the function works as usual. Names
// the engine puts in scope (flow, item, index, iteration, secrets, env)
// and keywords (true, in, matches...) cannot be refs.
//
// # Scope
//
// An expression sees these names:
//
//   - flow everywhere: {input, run_id, name, version, error}; error is set
//     while on_failure runs.
//   - in a DAG list (one where any block has depends_on), the refs it
//     depends on, directly or through others, and nothing else of its
//     list; after the list, every ref of it is visible as after a
//     sequence. A ref of the list it does not depend on is an upload
//     error that says to add it to depends_on;
//   - in a sequence, the refs of the blocks before it, and of the blocks
//     enclosing it (the enclosing control block's own ref is not, since it
//     has not finished);
//   - after a fork: the fork's ref and the refs directly inside every
//     branch (with join "any", branches that did not finish read as null).
//     Inside a branch, a sibling branch's refs are not visible;
//   - inside a map's do: item (the element) and index (0-based), plus the
//     do's earlier refs. After the map only the map's ref is visible; its
//     output is the list of each iteration's last output;
//   - inside a loop's do: iteration (the number of iterations done before
//     this one) and the do's earlier refs; while sees iteration and every
//     ref of do holding its latest value. After the loop only its ref;
//   - refs inside decision cases (and default), catch, and map and loop
//     bodies are visible only inside them. After a decision only its ref
//     is visible; its output is the last output of the case that ran;
//   - catch blocks also see the failed block's own ref (its error);
//     compensate input sees the compensated block's ref (its output);
//   - the flow's output and on_failure see every ref that runs at most
//     once per run: all refs except those inside map and loop bodies
//     (a ref that did not run reads as null there). on_failure blocks also
//     see the on_failure blocks before them.
//   - secrets is never in a blueprint's scope; it exists only in an http
//     block's dispatch url and headers (${secrets.NAME}).
//
// A name outside scope is an upload error that lists what is in scope:
// unknown name "trian" (did you mean "train"?); in scope here: flow, load, prep.
//
// # The environment the engine builds
//
// Expr.Eval and Value.Eval take map[string]any:
//
//	"flow":  {"input": any, "run_id": string, "name": string, "version": int, "error": any}
//	<ref>:   {"input": any, "output": any, "status": string, "attempts": int, "error": any,
//	          "artifacts": {NAME: {"artifact": {"id", "name", "size", "sha256", "uri"}}}}
//	"item", "index":  in map bodies
//	"iteration":      in loop bodies and while
//
// A ref that has not run may be left out; it then reads as null.
//
// # Expressions
//
// The language is github.com/expr-lang/expr. expr, items and while are
// bare expressions; inside any input value (and output, message, until)
// expressions are written in ${...}:
//
//   - a string that is exactly one ${...} keeps the result's JSON type
//     ("${load.output.rows}" is a list, "${x.output.n + 1}" a number);
//   - any other string interpolates: strings as they are, null as "null",
//     whole numbers without decimals, other values as JSON;
//   - $${ is a literal "${".
//
// Missing paths read as null: a missing key gives null and reading a
// member of null gives null (every member access is nil-safe, as if
// written a?.b), so "${register.output.uri}" is null when register did
// not run; ?? supplies a default. Indexing a list out of range is an
// error. Arithmetic or comparison on null is an evaluation error naming
// the expression.
//
// Evaluation is sandboxed and bounded: no I/O and no clock (now, date and
// timezone are disabled; duration("90m") is available); at most
// MaxExprNodes nodes per
// expression; ranges and list functions are bounded by the language's
// memory budget; strings and lists built by +, repeat, join, concat,
// flatten, replace, toJSON, string and toBase64, and the final result, are
// bounded by MaxExprBytes per evaluation, so an expression that tries to
// build a huge value fails fast instead of exhausting memory. Names
// starting with __ are reserved.
package flows
