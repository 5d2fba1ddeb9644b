// graphile-worker tuned as its own performance page runs it (local queue,
// batched completions, concurrentJobs 24, a pool to match), measured as
// `ordo bench queue` measures Ordo: enqueue no-op jobs in batches (one
// `addJobs` call each), then process them with one worker until every one
// is completed. Prints one JSON object.
//
//   node graphile.mjs <postgres url> <jobs> <batch> <concurrency>
import { Logger, makeWorkerUtils, run } from "graphile-worker";
import pg from "pg";

const [url, jobs, batch, concurrency] = [process.argv[2], ...process.argv.slice(3, 6).map(Number)];
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const preset = {
  worker: {
    connectionString: url,
    concurrentJobs: concurrency,
    maxPoolSize: concurrency + 1,
    localQueue: { size: 500 },
    completeJobBatchDelay: 0,
    failJobBatchDelay: 0,
    pollInterval: 1000,
  },
};

// Silent: logging every job would be measured too.
const logger = new Logger(() => () => {});
const utils = await makeWorkerUtils({ connectionString: url, logger });
await utils.migrate();
const started = performance.now();
for (let n = 0; n < jobs; n += batch) {
  const specs = [];
  for (let i = n; i < Math.min(n + batch, jobs); i++) specs.push({ identifier: "noop", payload: { n: i } });
  await utils.addJobs(specs);
}
const enqueueSeconds = (performance.now() - started) / 1000;

const pool = new pg.Pool({ connectionString: url, max: 1 });
const left = async () =>
  Number((await pool.query("select count(*) from graphile_worker._private_jobs")).rows[0].count);
let ran = 0;
const processing = performance.now();
const runner = await run({
  preset,
  noHandleSignals: true,
  logger,
  taskList: { noop: async () => { ran++; } },
});
while (ran < jobs) await sleep(5);
while ((await left()) > 0) await sleep(5);
const processSeconds = (performance.now() - processing) / 1000;
await runner.stop();
await pool.end();
await utils.release();
console.log(JSON.stringify({
  queue: "graphile-worker",
  version: "0.17.3",
  jobs,
  batch,
  concurrency,
  settings: preset.worker.localQueue,
  enqueue_seconds: enqueueSeconds,
  enqueued_per_second: jobs / enqueueSeconds,
  process_seconds: processSeconds,
  processed_per_second: jobs / processSeconds,
}));
