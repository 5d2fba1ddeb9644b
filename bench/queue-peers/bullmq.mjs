// BullMQ on Redis, measured as `ordo bench queue` measures Ordo: enqueue
// no-op jobs in batches (one `addBulk` call each, completed jobs removed),
// then process them with one worker until every one is completed. Prints
// one JSON object.
//
//   node bullmq.mjs <redis host> <redis port> <jobs> <batch> <concurrency>
import { Queue, Worker } from "bullmq";

const [host, port, jobs, batch, concurrency] = [process.argv[2], ...process.argv.slice(3, 7).map(Number)];
const connection = { host, port };
const name = `ordo-bench-${process.pid}`;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const queue = new Queue(name, { connection, defaultJobOptions: { removeOnComplete: true, removeOnFail: true } });
await queue.obliterate({ force: true });
const started = performance.now();
for (let n = 0; n < jobs; n += batch) {
  const bulk = [];
  for (let i = n; i < Math.min(n + batch, jobs); i++) bulk.push({ name: "noop", data: { n: i } });
  await queue.addBulk(bulk);
}
const enqueueSeconds = (performance.now() - started) / 1000;

let ran = 0;
const processing = performance.now();
const worker = new Worker(name, async () => { ran++; }, { connection, concurrency });
while (ran < jobs) await sleep(5);
for (;;) {
  const counts = await queue.getJobCounts("wait", "active", "delayed", "prioritized");
  if (Object.values(counts).every((c) => c === 0)) break;
  await sleep(5);
}
const processSeconds = (performance.now() - processing) / 1000;
await worker.close();
await queue.obliterate({ force: true });
await queue.close();
console.log(JSON.stringify({
  queue: "bullmq",
  version: "5.81.5",
  jobs,
  batch,
  concurrency,
  enqueue_seconds: enqueueSeconds,
  enqueued_per_second: jobs / enqueueSeconds,
  process_seconds: processSeconds,
  processed_per_second: jobs / processSeconds,
}));
