/**
 * A worker thread's entry (worker-thread-runtime.ts starts it): creates one session with
 * onnxruntime-node from workerData, then serves run / endProfiling / release requests for it until
 * released. onnxruntime-node's create and run are synchronous native calls on the thread that makes
 * them, so a session here costs the main thread nothing while it loads.
 */
import { parentPort, workerData } from "node:worker_threads";
import { OnnxruntimeNode } from "./onnxruntime-node.js";
import type { Session } from "./runtime.js";
import {
  type SessionWorkerData,
  type SessionWorkerReply,
  type SessionWorkerRequest,
  toWorkerError,
} from "./session-worker-protocol.js";

if (!parentPort) throw new Error("session-worker.ts runs only as a worker thread");
const port = parentPort;
const post = (reply: SessionWorkerReply) => port.postMessage(reply);

async function serve(session: Session, request: SessionWorkerRequest): Promise<SessionWorkerReply> {
  switch (request.type) {
    case "run":
      return { id: request.id, type: "ok", outputs: await session.run(request.feeds, request.outputNames) };
    case "endProfiling":
      return { id: request.id, type: "ok", trace: await session.endProfiling?.() };
    case "release":
      await session.release();
      return { id: request.id, type: "ok" };
  }
}

async function main(): Promise<void> {
  const { model, options } = workerData as SessionWorkerData;
  let session: Session;
  try {
    session = await new OnnxruntimeNode().createSession(model, options);
  } catch (err) {
    post({ type: "create-failed", error: toWorkerError(err) });
    return;
  }
  // requests are served one at a time, in order: one session, one thread
  let queue = Promise.resolve();
  port.on("message", (request: SessionWorkerRequest) => {
    queue = queue.then(async () => {
      try {
        post(await serve(session, request));
      } catch (err) {
        post({ id: request.id, type: "failed", error: toWorkerError(err) });
      }
      if (request.type === "release") port.close();
    });
  });
  post({ type: "created", inputNames: [...session.inputNames], outputNames: [...session.outputNames] });
}

void main();
