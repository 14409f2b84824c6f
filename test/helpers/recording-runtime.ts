/**
 * A Runtime that runs on another one and keeps what went through it: each created model (bytes and
 * external data) and each run's feeds and outputs. The in-browser tests record the networks a Node
 * pipeline built and ran on the CPU, then replay the same graphs and inputs in the page.
 */
import type {
  ExternalDataFile,
  ModelSource,
  Runtime,
  Session,
  SessionOptions,
  TensorData,
} from "../../src/runtime/runtime.js";
import { isDeviceTensor } from "../../src/runtime/runtime.js";

export interface RecordedRun {
  readonly feeds: Readonly<Record<string, TensorData>>;
  readonly outputs: Readonly<Record<string, TensorData>>;
}

export interface RecordedSession {
  readonly bytes: Uint8Array;
  readonly externalData: readonly ExternalDataFile[];
  readonly inputNames: readonly string[];
  readonly runs: RecordedRun[];
}

export class RecordingRuntime implements Runtime {
  readonly name: string;
  readonly sessions: RecordedSession[] = [];

  constructor(private readonly inner: Runtime) {
    this.name = `recording ${inner.name}`;
  }

  availableProviders(): string[] {
    return this.inner.availableProviders();
  }

  async createSession(model: ModelSource, options?: SessionOptions): Promise<Session> {
    if (!("bytes" in model)) throw new Error("RecordingRuntime records in-memory models only (cache: false)");
    const session = await this.inner.createSession(model, options);
    const record: RecordedSession = {
      bytes: model.bytes,
      externalData: model.externalData ?? [],
      inputNames: session.inputNames,
      runs: [],
    };
    this.sessions.push(record);
    return {
      inputNames: session.inputNames,
      outputNames: session.outputNames,
      async run(feeds, outputNames) {
        const outputs = await session.run(feeds, outputNames);
        const host = Object.entries(feeds).map(([name, feed]) => {
          if (isDeviceTensor(feed)) throw new Error(`RecordingRuntime records CPU feeds only (${name})`);
          return [name, feed] as const;
        });
        record.runs.push({ feeds: Object.fromEntries(host), outputs });
        return outputs;
      },
      release: () => session.release(),
    };
  }
}
