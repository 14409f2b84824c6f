/**
 * JSON request bodies with their shape bounded before they are parsed. The body size is fastify's
 * bodyLimit (413 before a byte is read past it); here one linear pass over the text refuses bodies
 * nested deeper than MAX_JSON_DEPTH or holding more than MAX_JSON_CONTAINERS objects and arrays,
 * with a 400 at once. Unchecked, `{"a":{"a":…}}` 100,000 deep parsed fine, then ran a whole
 * default-size generation and overflowed the stack echoing the body back (500 after minutes).
 * Then fastify's own parser runs (prototype-poisoning checks included).
 */
import type { FastifyInstance } from "fastify";
import { HttpError } from "./http-error.js";

/** A1111 bodies nest a handful of levels (alwayson_scripts args perhaps ten). */
export const MAX_JSON_DEPTH = 64;
/** Objects and arrays in one body: a real one has a few dozen. */
export const MAX_JSON_CONTAINERS = 100_000;

export interface JsonShape {
  depth: number;
  containers: number;
}

/**
 * The deepest nesting and the number of objects and arrays of JSON text, reading it once; stops
 * early once a limit is passed. Brackets inside strings do not count.
 */
export function jsonShape(
  text: string,
  limits: JsonShape = { depth: MAX_JSON_DEPTH, containers: MAX_JSON_CONTAINERS },
) {
  let depth = 0;
  const shape: JsonShape = { depth: 0, containers: 0 };
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      depth++;
      shape.containers++;
      if (depth > shape.depth) shape.depth = depth;
      if (shape.depth > limits.depth || shape.containers > limits.containers) return shape;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return shape;
}

/** Replaces fastify's application/json parser with one that checks the shape first. */
export function registerJsonBodyParser(app: FastifyInstance): void {
  const parse = app.getDefaultJsonParser("error", "ignore");
  app.removeContentTypeParser("application/json");
  app.addContentTypeParser("application/json", { parseAs: "string" }, (request, body, done) => {
    const text = body as string;
    const shape = jsonShape(text);
    if (shape.depth > MAX_JSON_DEPTH) {
      done(
        new HttpError(400, `the JSON body is nested more than ${MAX_JSON_DEPTH} levels deep`, "BodyTooDeep"),
        undefined,
      );
      return;
    }
    if (shape.containers > MAX_JSON_CONTAINERS) {
      done(
        new HttpError(
          400,
          `the JSON body holds more than ${MAX_JSON_CONTAINERS} objects and arrays`,
          "BodyTooComplex",
        ),
        undefined,
      );
      return;
    }
    parse(request, text, done);
  });
}
