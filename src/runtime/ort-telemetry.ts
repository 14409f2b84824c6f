/**
 * onnxruntime's telemetry off unless the user set `ORT_DISABLE_TELEMETRY` themselves. Imported before
 * onnxruntime-node, because ORT reads the variable once, when its environment is created.
 *
 * Besides privacy (sdlite runs offline and promises to send nothing), this keeps the process alive:
 * on Linux ORT 1.30's telemetry reads /proc/self/cmdline at start-up with a routine that recurses
 * once per character, so a command line over ~29 KB (a long prompt as an argument) overflowed the
 * main thread's stack and killed the process with SIGSEGV.
 */
if (process.env.ORT_DISABLE_TELEMETRY === undefined) process.env.ORT_DISABLE_TELEMETRY = "1";

export {};
