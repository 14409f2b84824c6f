/**
 * Prompt editing, alternation and AND against AUTOMATIC1111's modules/prompt_parser.py (v1.10):
 * every doctest of get_learned_conditioning_prompt_schedules, then further cases whose expected
 * values were produced by running A1111's own function (lark 1.1.5, several PYTHONHASHSEEDs, all
 * agreeing).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  promptSchedule,
  type ScheduleOptions,
  scheduleIndexAt,
  splitComposablePrompt,
} from "../src/pipeline/prompt-schedule.js";
import { InvalidRequestError } from "../src/pipeline/request.js";

type Expected = [number, string][];

function g(prompt: string, steps = 10, options: ScheduleOptions = {}): Expected {
  return promptSchedule(prompt, steps, options).map((e) => [e.endAtStep, e.text]);
}

describe("prompt schedule: A1111 doctests", () => {
  const cases: [string, Expected][] = [
    ["test", [[10, "test"]]],
    [
      "a [b:3]",
      [
        [3, "a "],
        [10, "a b"],
      ],
    ],
    [
      "a [b: 3]",
      [
        [3, "a "],
        [10, "a b"],
      ],
    ],
    [
      "a [[[b]]:2]",
      [
        [2, "a "],
        [10, "a [[b]]"],
      ],
    ],
    [
      "[(a:2):3]",
      [
        [3, ""],
        [10, "(a:2)"],
      ],
    ],
    [
      "a [b : c : 1] d",
      [
        [1, "a b  d"],
        [10, "a  c  d"],
      ],
    ],
    [
      "a[b:[c:d:2]:1]e",
      [
        [1, "abe"],
        [2, "ace"],
        [10, "ade"],
      ],
    ],
    ["a [unbalanced", [[10, "a [unbalanced"]]],
    [
      "a [b:.5] c",
      [
        [5, "a  c"],
        [10, "a b c"],
      ],
    ],
    [
      "((a][:b:c [d:3]",
      [
        [3, "((a][:b:c "],
        [10, "((a][:b:c d"],
      ],
    ],
    [
      "[a|(b:1.1)]",
      Array.from({ length: 10 }, (_, i): [number, string] => [i + 1, i % 2 === 0 ? "a" : "(b:1.1)"]),
    ],
    ["[fe|]male", Array.from({ length: 10 }, (_, i): [number, string] => [i + 1, i % 2 ? "male" : "female"])],
    [
      "[fe|||]male",
      Array.from({ length: 10 }, (_, i): [number, string] => [i + 1, i % 4 ? "male" : "female"]),
    ],
  ];
  for (const [prompt, expected] of cases) {
    it(JSON.stringify(prompt), () => assert.deepEqual(g(prompt), expected));
  }

  it('"a [{b|d{:.5] c": the grammar has no reading (no rule takes a "|" there), so the prompt stays as typed', () => {
    // The doctest still expects [[5, 'a  c'], [10, 'a {b|d{ c']], written before "|" became
    // alternation; since then A1111's own function returns the prompt unchanged, as here.
    assert.deepEqual(g("a [{b|d{:.5] c"), [[10, "a [{b|d{:.5] c"]]);
  });

  it("hires fix: steps counted from the start of the first pass (base 10, hires 10)", () => {
    assert.deepEqual(g("a [b:.5] c", 10, { hiresSteps: 10 }), [[10, "a b c"]]);
    assert.deepEqual(g("a [b:1.5] c", 10, { hiresSteps: 10 }), [
      [5, "a  c"],
      [10, "a b c"],
    ]);
  });
});

describe("prompt schedule: further cases checked against A1111", () => {
  it("the example in prompt_parser.py's header comment (100 steps)", () => {
    const p =
      "fantasy landscape with a [mountain:lake:0.25] and [an oak:a christmas tree:0.75][ in foreground::0.6][ in background:0.25] [shoddy:masterful:0.5]";
    assert.deepEqual(g(p, 100), [
      [25, "fantasy landscape with a mountain and an oak in foreground shoddy"],
      [50, "fantasy landscape with a lake and an oak in foreground in background shoddy"],
      [60, "fantasy landscape with a lake and an oak in foreground in background masterful"],
      [75, "fantasy landscape with a lake and an oak in background masterful"],
      [100, "fantasy landscape with a lake and a christmas tree in background masterful"],
    ]);
  });

  const cases: [string, number, ScheduleOptions, Expected][] = [
    [
      "a [cat:dog:0.5]",
      4,
      {},
      [
        [2, "a cat"],
        [4, "a dog"],
      ],
    ],
    // a number with a "." is a fraction of the steps, even above 1 (A1111 >= 1.6)
    ["a [cat:dog:2.0]", 10, {}, [[10, "a cat"]]],
    [
      "a [cat:dog:2.0]",
      10,
      { oldScheduling: true },
      [
        [2, "a cat"],
        [10, "a dog"],
      ],
    ],
    [
      "a [cat:dog:1.5]",
      10,
      { oldScheduling: true },
      [
        [1, "a cat"],
        [10, "a dog"],
      ],
    ],
    [
      "a [cat:dog:0.5]",
      10,
      { oldScheduling: true },
      [
        [5, "a cat"],
        [10, "a dog"],
      ],
    ],
    ["a [cat:dog:-1]", 10, {}, [[10, "a dog"]]],
    ["a [cat:dog:0]", 10, {}, [[10, "a dog"]]],
    ["a [cat:dog:25]", 10, {}, [[10, "a cat"]]],
    [
      "a [cat:dog:1e1]",
      20,
      {},
      [
        [10, "a cat"],
        [20, "a dog"],
      ],
    ],
    [
      "a [cat:dog:5 ]",
      10,
      {},
      [
        [5, "a cat"],
        [10, "a dog"],
      ],
    ],
    ["a [cat:dog:5x]", 10, {}, [[10, "a [cat:dog:5x]"]]],
    [
      "a [cat|dog|bird]",
      5,
      {},
      [
        [1, "a cat"],
        [2, "a dog"],
        [3, "a bird"],
        [4, "a cat"],
        [5, "a dog"],
      ],
    ],
    [
      "[a|[b:c:2]]",
      4,
      {},
      [
        [1, "a"],
        [2, "b"],
        [3, "a"],
        [4, "c"],
      ],
    ],
    [
      "(a [b:c:2]:1.2)",
      4,
      {},
      [
        [2, "(a b:1.2)"],
        [4, "(a c:1.2)"],
      ],
    ],
    ["\\[a:b:2\\]", 4, {}, [[4, "\\[a:b:2\\]"]]],
    // no rule takes these, so A1111 uses the prompt as typed, editing and all
    ["a | b [c:d:2]", 4, {}, [[4, "a | b [c:d:2]"]]],
    ["a [b:c:2] \\", 4, {}, [[4, "a [b:c:2] \\"]]],
    ["(a|b) [c:d:2]", 4, {}, [[4, "(a|b) [c:d:2]"]]],
    [
      "a [b:c:3] BREAK d [e|f]",
      4,
      {},
      [
        [1, "a b BREAK d e"],
        [2, "a b BREAK d f"],
        [3, "a b BREAK d e"],
        [4, "a c BREAK d f"],
      ],
    ],
    ["[a:b:3]", 10, { hiresSteps: 10 }, [[10, "b"]]],
    [
      "[a:b:13]",
      10,
      { hiresSteps: 10 },
      [
        [3, "a"],
        [10, "b"],
      ],
    ],
    ["[a:b:0.5]", 10, { hiresSteps: 20 }, [[20, "b"]]],
  ];
  for (const [prompt, steps, options, expected] of cases) {
    it(`${JSON.stringify(prompt)}, ${steps} steps ${JSON.stringify(options)}`, () =>
      assert.deepEqual(g(prompt, steps, options), expected));
  }

  it("a step A1111's int() cannot take is a clear error, not a crash", () => {
    assert.throws(() => promptSchedule("a [b:c:1e400]", 10), InvalidRequestError);
    assert.throws(() => promptSchedule("a [b:c:1e400]", 10), /1e400/);
  });
});

describe("scheduleIndexAt (A1111's reconstruct_cond_batch)", () => {
  it("0-based step s takes the first stretch whose end is >= s: the first stretch runs one step longer", () => {
    const schedule = promptSchedule("a [cat:dog:0.5]", 4);
    assert.deepEqual(
      [0, 1, 2, 3].map((s) => scheduleIndexAt(schedule, s)),
      [0, 0, 0, 1],
    );
  });
  it("alternation: the first alternative also gets step 0", () => {
    const schedule = promptSchedule("[a|b]", 4);
    assert.deepEqual(
      [0, 1, 2, 3].map((s) => schedule[scheduleIndexAt(schedule, s)].text),
      ["a", "a", "b", "a"],
    );
  });
  it("a step past the last stretch falls back to the first, as in A1111", () => {
    assert.equal(scheduleIndexAt(promptSchedule("[a:b:2]", 4), 5), 0);
  });
});

describe("splitComposablePrompt (A1111's get_multicond_prompt_list)", () => {
  const cases: [string, [string, number][]][] = [
    [
      "a cat :1.2 AND a dog",
      [
        ["a cat", 1.2],
        [" a dog", 1],
      ],
    ],
    [
      "a cat AND a dog:0.5 AND  a bird : -1 ",
      [
        ["a cat", 1],
        [" a dog", 0.5],
        ["  a bird", -1],
      ],
    ],
    ["a cat:1.2", [["a cat", 1.2]]],
    ["a (cat:1.2)", [["a (cat:1.2)", 1]]],
    [
      "ANDROID AND x",
      [
        ["ANDROID", 1],
        [" x", 1],
      ],
    ],
    ["aANDb", [["aANDb", 1]]],
    ["", [["", 1]]],
    [
      "AND",
      [
        ["", 1],
        ["", 1],
      ],
    ],
    [
      "a [b:c:2] AND d",
      [
        ["a [b:c:2]", 1],
        [" d", 1],
      ],
    ],
    ["a cat :1.", [["a cat", 1]]],
    ["a cat: .5", [["a cat", 0.5]]],
    [
      "x\nAND\ny:2\n",
      [
        ["x", 1],
        ["\ny", 2],
      ],
    ],
    ["a\u0661:\u0662", [["a\u0661", 2]]],
  ];
  for (const [prompt, expected] of cases) {
    it(JSON.stringify(prompt), () =>
      assert.deepEqual(
        splitComposablePrompt(prompt).map((s) => [s.text, s.weight]),
        expected,
      ),
    );
  }
});
