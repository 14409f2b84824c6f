/**
 * onnxruntime 1.30 on Linux/macOS records telemetry (a device id and queued events, for upload to
 * Microsoft) under `~/.cache/Microsoft/DeveloperTools/.onnxruntime/` whenever its environment is
 * created. sdlite promises private and offline, so it sets onnxruntime's own switch,
 * ORT_DISABLE_TELEMETRY=1, before onnxruntime-node loads (this module is imported first): ORT
 * reads it when it creates its environment, with the first session. An explicit
 * ORT_DISABLE_TELEMETRY in the user's environment (e.g. 0 to opt in) is left as it is.
 *
 * It also keeps the process alive: on Linux ORT 1.30's telemetry reads /proc/self/cmdline at start-up
 * with a routine that recurses once per character, so a command line over ~29 KB (a long prompt as an
 * argument) overflowed the main thread's stack and killed the process with SIGSEGV.
 */
if (!process.env.ORT_DISABLE_TELEMETRY) process.env.ORT_DISABLE_TELEMETRY = "1";
