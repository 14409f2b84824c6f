/** `--device` values, apart from device-choice.ts so that declaring the option loads no onnxruntime. */
export const DEVICE_NAMES = ["auto", "cpu", "webgpu", "dml", "coreml"] as const;
export type DeviceName = (typeof DEVICE_NAMES)[number];
