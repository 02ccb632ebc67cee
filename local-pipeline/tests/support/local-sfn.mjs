// Runs one execution of a state machine with aws-local-stepfunctions (an independent ASL
// implementation), for the interpreter's differential test (tests/interpreter.rs).
//
// Usage: node local-sfn.mjs <directory of the aws-local-stepfunctions package>
// stdin: {"definition": {...}, "input": {...}, "tasks": {"StateName": [reply, ...]}}
//   where each reply, used in turn by that Task state, is {"output": value} or
//   {"error": "Name", "cause": "text"} (thrown as an Error with that name and message).
// stdout: {"path": [state names entered], "status": "SUCCEEDED" | "FAILED" | "TIMED_OUT",
//   "output", "error", "cause", "calls": [{"state", "parameters"}]}
//
// Waits and retry intervals are overridden to 0 ms: the test compares paths and data, not
// timing (the interpreter's own tests check the intervals).

import path from 'node:path';
import { pathToFileURL } from 'node:url';

const packageDir = process.argv[2];
if (!packageDir) {
  console.error('usage: node local-sfn.mjs <aws-local-stepfunctions package directory>');
  process.exit(2);
}
const { StateMachine, ExecutionTimeoutError } = await import(
  pathToFileURL(path.join(packageDir, 'build', 'main.node.esm.js')).href
);

let stdin = '';
for await (const chunk of process.stdin) stdin += chunk;
const { definition, input, tasks } = JSON.parse(stdin);

const calls = [];
const taskResourceLocalHandlers = {};
for (const [state, replies] of Object.entries(tasks ?? {})) {
  const queue = [...replies];
  taskResourceLocalHandlers[state] = async (parameters) => {
    calls.push({ state, parameters });
    const reply = queue.shift();
    if (reply === undefined) throw new Error(`the script for ${state} has no reply left`);
    if ('output' in reply) return reply.output;
    const error = new Error(reply.cause);
    error.name = reply.error;
    throw error;
  };
}
// The failure records' S3 PutObject (before each Fail state) succeeds unless scripted, and is
// not a call the test compares (the interpreter's Scripted runner does the same).
for (const [name, state] of Object.entries(definition.States)) {
  if (
    state.Type === 'Task' &&
    state.Resource === 'arn:aws:states:::aws-sdk:s3:putObject' &&
    !(name in taskResourceLocalHandlers)
  ) {
    taskResourceLocalHandlers[name] = async () => ({ ETag: '"0123"', VersionId: 'v1' });
  }
}
const waitTimeOverrides = {};
const retryIntervalOverrides = {};
for (const [name, state] of Object.entries(definition.States)) {
  if (state.Type === 'Wait') waitTimeOverrides[name] = 0;
  if (state.Retry) retryIntervalOverrides[name] = 0;
}

// The library's context object has only Execution.Input and StartTime; the failure records'
// Parameters read $$.Execution.Id and $$.State.EnteredTime (their values are not compared).
const now = new Date().toISOString();
const context = {
  Execution: {
    Id: 'arn:aws:states:eu-west-1:123456789012:execution:pipeline:differential',
    Input: input,
    StartTime: now,
  },
  State: { EnteredTime: now },
};
const machine = new StateMachine(definition);
const execution = machine.run(input, {
  overrides: { taskResourceLocalHandlers, waitTimeOverrides, retryIntervalOverrides },
  context,
});
const report = { path: [], status: 'SUCCEEDED', output: null, error: null, cause: null, calls };
try {
  report.output = await execution.result;
} catch (error) {
  if (error instanceof ExecutionTimeoutError) {
    report.status = 'TIMED_OUT';
    report.error = 'States.Timeout';
  } else {
    report.status = 'FAILED';
  }
}
for await (const event of execution.eventLogs) {
  if (event.type === 'StateEntered') report.path.push(event.state.name);
  if (event.type === 'ExecutionFailed') {
    report.error = event.Error;
    report.cause = event.Cause ?? null;
  }
  if (event.type === 'ExecutionSucceeded' || event.type === 'ExecutionFailed' || event.type === 'ExecutionTimeout') break;
}
process.stdout.write(JSON.stringify(report) + '\n');
// The machine's TimeoutSeconds timer would keep the process alive; the report is written.
process.exit(0);
