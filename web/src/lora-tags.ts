/** `<lora:name:weight>` tags in prompt text (A1111's extra-networks syntax). */

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** "0.80" → "0.8": weights are written the way A1111's picker writes them. */
export function formatWeight(weight: number): string {
  return String(Math.round(weight * 1000) / 1000);
}

export function loraTag(name: string, weight: number): string {
  return `<lora:${name}:${formatWeight(weight)}>`;
}

/**
 * The prompt with a tag for this LoRA: an existing tag of the same name gets the new weight in
 * place, otherwise the tag is appended (after ", " when the prompt does not already end in a separator).
 */
export function withLoraTag(prompt: string, name: string, weight: number): string {
  const tag = loraTag(name, weight);
  const existing = new RegExp(`<lora:${escapeRegExp(name)}(?::[^>]*)?>`);
  if (existing.test(prompt)) return prompt.replace(existing, tag);
  const trimmed = prompt.trimEnd();
  if (!trimmed) return tag;
  return /[,\s]$/.test(trimmed) ? `${trimmed} ${tag}` : `${trimmed}, ${tag}`;
}
