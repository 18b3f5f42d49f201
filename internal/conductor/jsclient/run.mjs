// Drives weft serve with the unmodified Conductor JavaScript client: its
// metadata client registers task and workflow definitions, its
// TaskManager's workers poll and complete tasks, its WorkflowExecutor
// starts workflows and reads their status. Prints one "RESULT <json>" line
// per scenario; the Go test (jsclient_test.go) checks them.
//
//   WEFT_URL=http://127.0.0.1:8080 node run.mjs [scenarios|bench N]
import {
  orkesConductorClient,
  MetadataClient,
  WorkflowExecutor,
  TaskManager,
  NonRetryableException,
} from "@io-orkes/conductor-javascript";

const url = process.env.WEFT_URL;
const token = process.env.WEFT_TOKEN; // a Weft token, sent as Conductor's key secret
const mode = process.argv[2] ?? "scenarios";

const quiet = { info() {}, debug() {}, error(...a) { console.error(...a); } };

const client = await orkesConductorClient(
  token ? { serverUrl: url, keyId: "weft", keySecret: token } : { serverUrl: url },
);
const metadata = new MetadataClient(client);
const executor = new WorkflowExecutor(client);

const calls = {};
const count = (name) => { calls[name] = (calls[name] ?? 0) + 1; return calls[name]; };

async function waitDone(id, seconds = 60) {
  const end = Date.now() + seconds * 1000;
  for (;;) {
    const wf = await executor.getWorkflow(id, true);
    if (!["RUNNING", "PAUSED"].includes(wf.status)) return wf;
    if (Date.now() > end) throw new Error(`workflow ${id} still ${wf.status} after ${seconds}s`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function scenarios() {
  await metadata.registerTasks([
    { name: "js_add", retryCount: 0, timeoutSeconds: 60, responseTimeoutSeconds: 30, ownerEmail: "team@example.com" },
    { name: "js_flaky", retryCount: 1, retryLogic: "FIXED", retryDelaySeconds: 1, ownerEmail: "team@example.com" },
    { name: "js_terminal", retryCount: 3, retryLogic: "FIXED", retryDelaySeconds: 1, ownerEmail: "team@example.com" },
  ]);
  await executor.registerWorkflow(true, {
    name: "js_child", version: 1, schemaVersion: 2, ownerEmail: "team@example.com",
    tasks: [{ name: "js_double", taskReferenceName: "double", type: "SIMPLE", inputParameters: { n: "${workflow.input.n}" } }],
    outputParameters: { doubled: "${double.output.n}" },
  });
  await executor.registerWorkflow(true, {
    name: "js_main", version: 1, schemaVersion: 2, ownerEmail: "team@example.com",
    inputParameters: ["a", "b", "kind"],
    tasks: [
      { name: "js_add", taskReferenceName: "add", type: "SIMPLE",
        inputParameters: { a: "${workflow.input.a}", b: "${workflow.input.b}" } },
      { name: "route", taskReferenceName: "route", type: "SWITCH", evaluatorType: "value-param", expression: "kind",
        inputParameters: { kind: "${workflow.input.kind}" },
        decisionCases: { big: [{ name: "js_tag", taskReferenceName: "tag_big", type: "SIMPLE",
          inputParameters: { label: "big", v: "${add.output.sum}" } }] },
        defaultCase: [{ name: "js_tag", taskReferenceName: "tag_small", type: "SIMPLE",
          inputParameters: { label: "small", v: "${add.output.sum}" } }] },
      { name: "fan", taskReferenceName: "fan", type: "FORK_JOIN", forkTasks: [
        [{ name: "js_square", taskReferenceName: "square", type: "SIMPLE", inputParameters: { n: "${add.output.sum}" } }],
        [{ name: "js_child", taskReferenceName: "child", type: "SUB_WORKFLOW",
          subWorkflowParam: { name: "js_child", version: 1 }, inputParameters: { n: "${add.output.sum}" } }],
      ] },
      { name: "fan_join", taskReferenceName: "fan_join", type: "JOIN", joinOn: ["square", "child"] },
      { name: "ticks", taskReferenceName: "ticks", type: "DO_WHILE",
        loopCondition: "if ($.ticks['iteration'] < 3) { true; } else { false; }",
        loopOver: [{ name: "js_tick", taskReferenceName: "tick", type: "SIMPLE",
          inputParameters: { i: "${ticks.output.iteration}" } }] },
      { name: "js_flaky", taskReferenceName: "flaky", type: "SIMPLE" },
    ],
    outputParameters: {
      sum: "${add.output.sum}", tag: "${tag_big.output.tag}", square: "${square.output.n}",
      doubled: "${child.output.doubled}", ticks: "${tick.output.i}", flaky_attempt: "${flaky.output.attempt}",
    },
  });
  await executor.registerWorkflow(true, {
    name: "js_fail", version: 1, schemaVersion: 2, ownerEmail: "team@example.com",
    tasks: [{ name: "js_terminal", taskReferenceName: "boom", type: "SIMPLE" }],
  });

  const ok = (outputData, logs) => ({ status: "COMPLETED", outputData, logs });
  const workers = [
    { taskDefName: "js_add", execute: async (t) => ok({ sum: t.inputData.a + t.inputData.b },
      [{ log: `adding ${t.inputData.a} and ${t.inputData.b}`, createdTime: Date.now() }]) },
    { taskDefName: "js_tag", execute: async (t) => ok({ tag: `${t.inputData.label}:${t.inputData.v}` }) },
    { taskDefName: "js_square", execute: async (t) => ok({ n: t.inputData.n * t.inputData.n }) },
    { taskDefName: "js_double", execute: async (t) => ok({ n: t.inputData.n * 2 }) },
    { taskDefName: "js_tick", execute: async (t) => ok({ i: t.inputData.i }) },
    { taskDefName: "js_flaky", execute: async () => {
      const n = count("js_flaky");
      if (n === 1) throw new Error("first attempt fails");
      return ok({ attempt: n });
    } },
    { taskDefName: "js_terminal", execute: async () => {
      count("js_terminal");
      throw new NonRetryableException("the input can never work");
    } },
  ];
  const manager = new TaskManager(client, workers, { logger: quiet, options: { pollInterval: 20, concurrency: 2, batchPollingTimeout: 100 } });
  manager.startPolling();
  try {
    const id = await executor.startWorkflow({ name: "js_main", version: 1, input: { a: 2, b: 3, kind: "big" } });
    const wf = await waitDone(id);
    console.log("RESULT " + JSON.stringify({ scenario: "main", id, status: wf.status, output: wf.output,
      tasks: wf.tasks.map((t) => ({ ref: t.referenceTaskName, type: t.taskType, status: t.status })) }));

    const fid = await executor.startWorkflow({ name: "js_fail", input: {} });
    const fwf = await waitDone(fid);
    console.log("RESULT " + JSON.stringify({ scenario: "terminal", id: fid, status: fwf.status,
      reason: fwf.reasonForIncompletion, calls: calls.js_terminal ?? 0 }));
  } finally {
    await manager.stopPolling();
  }
}

// bench: N workflows of five SIMPLE tasks each, started at once and driven
// by the client's workers; prints the steps per second.
async function bench(n) {
  const names = ["b_one", "b_two", "b_three", "b_four", "b_five"];
  await metadata.registerTasks(names.map((name) => ({ name, retryCount: 0, ownerEmail: "team@example.com" })));
  await executor.registerWorkflow(true, {
    name: "js_bench", version: 1, schemaVersion: 2, ownerEmail: "team@example.com",
    tasks: names.map((name, i) => ({ name, taskReferenceName: name, type: "SIMPLE",
      inputParameters: { x: i === 0 ? "${workflow.input.x}" : "${" + names[i - 1] + ".output.x}" } })),
  });
  const workers = names.map((name) => ({ taskDefName: name, execute: async (t) => ({ status: "COMPLETED", outputData: { x: t.inputData.x + 1 } }) }));
  const manager = new TaskManager(client, workers, { logger: quiet, options: { pollInterval: 10, concurrency: 10, batchPollingTimeout: 100 } });
  const t0 = Date.now();
  const ids = [];
  for (let i = 0; i < n; i++) ids.push(await executor.startWorkflow({ name: "js_bench", input: { x: 0 } }));
  const started = Date.now();
  manager.startPolling();
  try {
    for (const id of ids) {
      const wf = await waitDone(id, 600);
      if (wf.status !== "COMPLETED" || wf.output.x !== 5) throw new Error(`run ${id}: ${wf.status} ${JSON.stringify(wf.output)}`);
    }
  } finally {
    await manager.stopPolling();
  }
  const secs = (Date.now() - started) / 1000;
  console.log("RESULT " + JSON.stringify({ scenario: "bench", workflows: n, steps: n * 5, start_seconds: (started - t0) / 1000,
    seconds: secs, steps_per_second: (n * 5) / secs }));
}

if (mode === "bench") await bench(Number(process.argv[3] ?? 1000));
else await scenarios();
process.exit(0);
