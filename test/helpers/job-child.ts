/**
 * A separate process that runs one GenerationJob: the job as JSON on stdin, the result as JSON on
 * stdout. What a worker on another machine does with a job it receives, minus the transport.
 */
import { runGenerationJob } from "../../src/pipeline/run-generation-job.js";

let input = "";
process.stdin.setEncoding("utf-8");
process.stdin.on("data", (chunk: string) => {
  input += chunk;
});
process.stdin.on("end", () => {
  runGenerationJob(JSON.parse(input)).then(
    (result) => process.stdout.write(JSON.stringify(result)),
    (err: unknown) => {
      process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    },
  );
});
