// Differential oracle for tests/policy_differential.rs: runs each generated case through the
// independent evaluator @cloud-copilot/iam-simulate (installed by scripts/test-deps.sh under
// target/test-tools/npm) and prints one JSON result per input line.
//   node tests/policy_differential.mjs NODE_MODULES_DIR CASES.jsonl
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import path from 'node:path';

const [, , modulesDir, casesFile] = process.argv;
const require = createRequire(path.join(path.resolve(modulesDir), 'noop.js'));
const { runSimulation } = require('@cloud-copilot/iam-simulate');

const lines = readFileSync(casesFile, 'utf8').split('\n').filter((l) => l.trim() !== '');
for (const line of lines) {
  const c = JSON.parse(line);
  const simulation = {
    request: {
      principal: c.principal,
      action: c.action,
      resource: { resource: c.resource, accountId: c.account },
      contextVariables: c.context,
    },
    identityPolicies: c.identity_policies.map((p, i) => ({ name: `P${i}`, policy: p })),
    serviceControlPolicies: [],
    resourceControlPolicies: [],
  };
  if (c.session_policy) simulation.sessionPolicy = c.session_policy;
  let out;
  try {
    const r = await runSimulation(simulation, {});
    if (r.resultType === 'error') {
      out = { error: r.errors.message ?? JSON.stringify(r.errors) };
    } else {
      out = { result: r.overallResult };
    }
  } catch (e) {
    out = { error: String(e) };
  }
  process.stdout.write(JSON.stringify(out) + '\n');
}
