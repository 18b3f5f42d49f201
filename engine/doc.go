// Package engine is Weft's durable state machine: it runs compiled blueprints
// to completion through crashes, retries and operator actions, writing every
// decision in one transaction with the state change that caused it.
//
// # Decisions and the shell
//
// advance (advance.go) is a pure function: given a blueprint, a run with its
// steps, one change (a worker's report, a timer, a signal, an operator
// action) and the time, it returns the new run and the effects to write
// (tasks, timers, history events, child runs). It does no I/O. After
// folding the change in, it drives the blueprint top-down: every sequence
// continues from its first unfinished block (a list in DAG form starts
// every block its dependencies and trigger rule allow, in topological
// order, so it is decided in time linear in its blocks and edges),
// control blocks evaluate in
// place, external blocks become tasks. The shell (shell.go) loads the run
// in a transaction, calls advance, and writes steps, the run (guarded by
// its rev), tasks, timers and events in that same transaction, so a crash
// loses nothing committed and doubles nothing. The same input always
// gives the same output, effects in the same order: whatever advance
// does to many steps at once it does in step order (Seq), never in Go's
// map order.
//
// # Where the decision lives
//
//	advance.go        advance, advanceIn, the decider, assembling the result
//	change.go         the changes advance applies, effects, errors
//	attempt.go        tasks: attempts, retry, lease, queueing, succeed/finish
//	drive.go          the block table; walking a sequence; starting a block
//	block_decision.go block_fork.go block_map.go block_loop.go
//	block_wait.go     block_subflow.go block_misc.go (lambda, fail)
//	block_dag.go      lists in DAG form: trigger rules, skips, the sinks' output
//	failure.go        cancellation, compensation, on_failure
//	scope.go          what an expression sees at a point of the flow
//	rerun.go          Retry (reset a run) and Rerun (the steps a new run keeps)
//
// Each type of block is a blockKind in the block table (drive.go): start
// does what reaching it means, drive moves a running control block along
// its children, stop releases what a cancelled step holds outside the run,
// finished tidies up after it ends, control says whether Retry resumes it.
// To add a system block: give it a type and a schema in flows/
// (model.go, compile.go, schema/flow.json), write block_<type>.go with
// its blockKind and block_<type>_test.go with table rows that call
// advance directly (the helpers are in advance_test.go), add it to
// blockTable, and show it in the UI (ui/graph.go). An iterating block
// also teaches scopeOf (scope.go) what its iterations put in scope.
//
// # Run states
//
//	```mermaid
//	stateDiagram-v2
//	    [*] --> queued: StartRun / cron / subflow
//	    queued --> running: start (same transaction)
//	    running --> paused: Pause
//	    paused --> running: Resume
//	    running --> succeeded: last block done, output evaluated
//	    running --> running: a block failed: compensations, then on_failure
//	    running --> failed: failure handling finished
//	    running --> timed_out: blueprint timeout (after compensations)
//	    paused --> timed_out: blueprint timeout
//	    queued --> cancelled: Cancel
//	    running --> cancelled: Cancel (children cancelled too)
//	    paused --> cancelled: Cancel
//	    failed --> running: Retry (keeps succeeded steps)
//	    timed_out --> running: Retry
//	    cancelled --> running: Retry
//	    succeeded --> [*]
//	```
//
// Rerun never changes a run: it starts a NEW run that copies the succeeded
// steps of the blocks before the chosen ref (document order, enclosing
// control blocks excluded) and runs from there, optionally with an edited
// input for that block and the latest flow version.
//
// # Step states
//
//	```mermaid
//	stateDiagram-v2
//	    [*] --> scheduled: external block reached (task written)
//	    [*] --> running: control block reached (decision, fork, map, loop)
//	    [*] --> waiting: wait or subflow reached
//	    [*] --> succeeded: lambda evaluated; wait already satisfied
//	    [*] --> skipped: in a decision case not taken; a DAG block whose trigger rule cannot hold
//	    [*] --> failed: input invalid; expression error; fail block
//	    scheduled --> running: claimed by a worker (lease; stored with the report)
//	    running --> succeeded: complete (output valid)
//	    running --> scheduled: retryable failure, lease expiry or attempt timeout, attempts left (back-off)
//	    running --> scheduled: claim released, its answer lost (same attempt, at once; as read: the stored step never left scheduled)
//	    running --> failed: failure, no attempts left; output invalid
//	    running --> timed_out: attempt timeout, no attempts left
//	    running --> succeeded: control block's children done
//	    running --> failed: a child failed (unhandled)
//	    waiting --> succeeded: signal / duration / until / child succeeded
//	    waiting --> timed_out: wait timeout
//	    waiting --> failed: child run failed
//	    scheduled --> cancelled: run cancelled or timed out; losing fork branch
//	    running --> cancelled: run cancelled or timed out; losing fork branch
//	    waiting --> cancelled: run cancelled or timed out
//	```
//
// pending is the status of a step not reached yet; such steps have no row.
// A failed step with optional: true, or whose catch blocks succeeded, lets
// its sequence go on. Who moves a step: the engine (control blocks,
// timers, lease expiry), a worker (claim, complete, fail), an operator
// (cancel, retry), an API client (signal).
//
// # Tasks and leases
//
// One transaction per step on the hot path. A claim writes only its task
// row (one guarded UPDATE ... RETURNING: the lease, the claim time, the
// attempt's deadline); it neither reads nor writes the run or its steps.
// Readers (GetRun) show a step whose current attempt's task is claimed as
// running; the step's stored row moves from scheduled to running (with a
// step.running event at the claim's time) in the transaction of the
// report that ends the attempt: complete, fail, lease expiry or the
// attempt deadline. A report may ask for the worker's next tasks, which
// are then claimed in that same transaction (ReportParams.Next), so a
// busy worker costs one write transaction per step. On SQLite (one
// writer) the run's row and steps come from what this engine last
// committed (stepCache), guarded by the run's rev; every decision is
// written by one Store.Apply call.
//
// A task is claimed in one guarded UPDATE, with a lease token that every
// report must carry (fencing): a report with a stale or consumed lease is
// ErrConflict and changes nothing. The lease lasts the block's
// heartbeat_timeout (DefaultLease when unset); each heartbeat extends it.
// A lapsed lease fails the attempt retryably. A task's id is stable across
// redeliveries of one attempt. A claim whose poll lost its caller before
// the answer (the worker's request ended as the claim committed) is
// released at once: the task is ready again and its step scheduled, with
// the same attempt. Tasks go to the queue the block's TaskQueue names
// (an HTTP block's, "http:NAME", and a Kubernetes block's, "kube:NAME",
// belong to the server's dispatchers) and are claimed
// like any other. A per-block
// concurrency cap counts leased tasks across the cluster; resources must
// fit what the poll offers less what that worker already holds leased
// (and what the same claim has leased so far). Back-off is delayed
// visibility.
//
// Attempt timeouts (the block instance's timeout, else the definition's)
// count from the claim: the claim writes deadline_at on the task row, and
// the timer loop fires it once (no timer row). An attempt that runs past
// it is asked to stop and fails retryably; after the last attempt the step
// is timed_out.
//
// Pause stops new blocks from starting and parks the run's unclaimed tasks
// (state held) until Resume; tasks already claimed may finish, and a retry
// decided while paused is parked too.
//
// # Loops
//
// Run starts the timer loop (timers, lease expiry, back-off wake-ups; it
// sleeps until the next due time or a wake-up), the cron loop, the
// retention loop and, on PostgreSQL, the LISTEN loop relaying other
// replicas' wake-ups. Poll and WaitRun park on in-process channels.
//
// Cron: each due time fires once across replicas (a unique cron_fires row
// is written first, in the transaction that starts the run). After
// downtime a trigger fires once, for the most recent due time it missed.
package engine
