/**
 * The short hashes A1111 writes into infotexts, from a full SHA-256 hex digest:
 * "Model hash" (AutoV2) = first 10 hex of the checkpoint file's SHA-256;
 * "Lora hashes" entries = first 12 hex of the LoRA's hash (for .safetensors that is the
 * "addnet" hash of the data after the header, see sha256-file.ts).
 */

const SHA256_HEX = /^[0-9a-f]{64}$/;

function checkSha256Hex(sha256hex: string): string {
  const hex = sha256hex.toLowerCase();
  if (!SHA256_HEX.test(hex)) throw new RangeError(`not a SHA-256 hex digest: ${JSON.stringify(sha256hex)}`);
  return hex;
}

/** The first `length` hex digits of a SHA-256 digest, lower case. */
export function shortHash(sha256hex: string, length = 10): string {
  return checkSha256Hex(sha256hex).slice(0, length);
}

/** A1111 "Model hash" (AutoV2, also Civitai's AutoV2): 10 hex. */
export function modelShortHash(sha256hex: string): string {
  return shortHash(sha256hex, 10);
}

/** A1111 "Lora hashes" entry (NetworkOnDisk.shorthash): 12 hex. */
export function loraShortHash(sha256hex: string): string {
  return shortHash(sha256hex, 12);
}
